-- Runs only after the site's passdb accepted a mailbox password (skip = unauthenticated):
-- tells the portal who still uses theirs. Written by manage.py mail_auth_config.
local portal = dofile("@LUA_DIR@/portal-mail-auth.lua")

function auth_password_verify(req, password)
  portal.report(req, "ok")
  return dovecot.auth.PASSDB_RESULT_OK, ""
end
