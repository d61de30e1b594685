-- The security portal's app passwords: the first passdb (written by manage.py mail_auth_config).
local portal = dofile("@LUA_DIR@/portal-mail-auth.lua")

function auth_password_verify(req, password)
  return portal.verify(req, password)
end
