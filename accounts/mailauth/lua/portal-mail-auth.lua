-- The security portal's app passwords for Dovecot's Lua passdb (written by manage.py mail_auth_config).
-- Asks the portal's verifier over a Unix socket; docs/mail-clients.md describes the protocol.
-- Needs Debian's lua-socket (socket.unix). Runs in Dovecot's auth worker processes (blocking=yes):
-- each worker keeps one connection and sends one request at a time.
local unix = require("socket.unix")

local M = {}
local SOCKET = "@SOCKET@"
local TIMEOUT = @TIMEOUT@        -- seconds for one verify; then "temporary failure"
local REPORT_TIMEOUT = @REPORT_TIMEOUT@ -- seconds for a mailbox-password report; then it is dropped

local conn = nil
local counter = 0

-- Percent-encode '%' and control characters, so that any password fits in a TAB-separated line.
local function encode(value)
  return (tostring(value or ""):gsub("[%%%c]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function decode(value)
  return (value:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function drop()
  if conn ~= nil then conn:close() end
  conn = nil
end

-- One request line out, one answer line back. A kept connection that a restarted verifier closed
-- is retried once on a fresh connection; a timeout is not retried (the login would wait twice).
local function exchange(line, timeout)
  for _ = 1, 2 do
    local fresh = false
    if conn == nil then
      local c = unix()
      c:settimeout(timeout)
      local ok, err = c:connect(SOCKET)
      if not ok then
        c:close()
        return nil, "cannot connect to " .. SOCKET .. ": " .. tostring(err)
      end
      conn, fresh = c, true
    end
    conn:settimeout(timeout)
    local answer, err
    local sent, send_err = conn:send(line)
    if sent then
      answer, err = conn:receive("*l")
    else
      err = send_err
    end
    if answer ~= nil then return answer end
    drop()
    if fresh or err == "timeout" then return nil, tostring(err) end
  end
  return nil, "no answer"
end

local function next_id()
  counter = counter + 1
  return tostring(counter)
end

-- Returns the answer's verb and its fields, or nil and an error when the answer is not for this request.
local function ask(fields, timeout)
  local id = next_id()
  local parts = {fields[1], id}
  for i = 2, #fields do parts[#parts + 1] = encode(fields[i]) end
  local answer, err = exchange(table.concat(parts, "\t") .. "\n", timeout)
  if answer == nil then return nil, err end
  local verb, answer_id, rest = answer:match("^(%u+)\t([^\t]*)\t?(.*)$")
  if verb == nil or answer_id ~= id then
    drop()  -- out of step: start again on a fresh connection next time
    return nil, "unexpected answer from the verifier"
  end
  return verb, decode(rest)
end

function M.verify(req, password)
  local verb, detail = ask({"VERIFY", req.service, req.user, req.remote_ip, password}, TIMEOUT)
  if verb == "OK" then
    return dovecot.auth.PASSDB_RESULT_OK, {user = detail}
  elseif verb == "NEXT" then
    -- Not an app password, and mailbox passwords are still accepted: the site's passdb decides.
    return dovecot.auth.PASSDB_RESULT_NEXT, ""
  elseif verb == "FAIL" then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "portal: " .. detail
  elseif verb == "UNKNOWN" then
    return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, "portal: unknown user"
  end
  -- TEMPFAIL, ERROR, no answer: a temporary failure, never a success.
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "portal verifier: " .. tostring(detail)
end

-- Tell the portal how the site's own passdb judged a mailbox password. Never changes the outcome.
function M.report(req, outcome)
  ask({"MAILBOX", outcome, req.service, req.user, req.remote_ip}, REPORT_TIMEOUT)
end

return M
