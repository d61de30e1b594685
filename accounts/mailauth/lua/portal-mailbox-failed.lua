-- Runs only after the site's passdb refused a mailbox password (skip = authenticated): the portal
-- counts it (a guessing attack raises an IT alert). Written by manage.py mail_auth_config.
local portal = dofile("@LUA_DIR@/portal-mail-auth.lua")

function auth_password_verify(req, password)
  portal.report(req, "failed")
  return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "mailbox password refused by the site's passdb"
end
