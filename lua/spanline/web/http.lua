-- web/http.lua: the little of HTTP/1.1 that `spanline serve` needs: a
-- request head parsed from the bytes received so far, and response heads.
--
-- Key idea: the server answers GET of two paths and nothing else, so only
-- the request line and the headers are read (a body is never read: a
-- request that announces one is refused), with limits on the head's size
-- and header count; anything malformed is an error status, never a crash.

local http = {}

http.MAX_HEAD = 8192      -- bytes of request line + headers
http.MAX_HEADERS = 64

http.REASONS = {
  [200] = "OK", [400] = "Bad Request", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [413] = "Content Too Large",
  [431] = "Request Header Fields Too Large", [503] = "Service Unavailable",
  [505] = "HTTP Version Not Supported",
}

-- token chars of RFC 9110 (method and header names)
local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

-- Parses the request head in buf. Returns:
--   req                      { method, target, path, query, version, headers = { lower name = value } }
--   nil                      the head is not complete yet
--   false, status, message   a bad request (status to answer with)
function http.parse(buf)
  local head_end, body_start = buf:find("\r?\n\r?\n")
  if not head_end then
    if #buf > http.MAX_HEAD then return false, 431, "request head too large" end
    return nil
  end
  if head_end > http.MAX_HEAD then return false, 431, "request head too large" end
  local head = buf:sub(1, head_end - 1)
  local lines = {}
  for line in (head .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  local method, target, version = (lines[1] or ""):match("^(%S+) (%S+) HTTP/(%d%.%d)$")
  if not method or not method:match(TOKEN) then return false, 400, "bad request line" end
  if version ~= "1.1" and version ~= "1.0" then return false, 505, "HTTP/" .. version .. " not supported" end
  if #lines - 1 > http.MAX_HEADERS then return false, 431, "too many header fields" end
  local headers = {}
  for i = 2, #lines do
    local name, value = lines[i]:match("^([^:]+):[ \t]*(.-)[ \t]*$")
    if not name or not name:match(TOKEN) or value:find("[%z\1-\8\10-\31\127]") then
      return false, 400, "bad header line"
    end
    name = name:lower()
    if headers[name] and name == "host" then return false, 400, "two Host headers" end
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end
  if version == "1.1" and not headers.host then return false, 400, "no Host header" end
  local path, query = target:match("^([^?#]*)%??([^#]*)")
  if not path or path:sub(1, 1) ~= "/" then return false, 400, "bad request target" end
  return {
    method = method, target = target, path = path, query = query, version = version,
    headers = headers, size = body_start,
  }
end

-- Does the request announce a body? (GET requests here must not.)
function http.has_body(req)
  local te = req.headers["transfer-encoding"]
  local cl = req.headers["content-length"]
  return te ~= nil or (cl ~= nil and cl ~= "0")
end

-- Is Host one of the loopback names (guards a loopback server against DNS
-- rebinding: a page on another site resolving its name to 127.0.0.1)?
function http.loopback_host(host)
  if not host then return false end
  local name = host:match("^%[([^%]]+)%]") or host:match("^([^:]+)")
  if not name then return false end
  name = name:lower()
  return name == "localhost" or name == "::1" or name:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

-- A response head. headers: a list of { name, value } (order kept).
function http.head(status, headers)
  local out = { string.format("HTTP/1.1 %d %s\r\n", status, http.REASONS[status] or "Unknown") }
  for _, h in ipairs(headers or {}) do out[#out + 1] = h[1] .. ": " .. h[2] .. "\r\n" end
  out[#out + 1] = "\r\n"
  return table.concat(out)
end

-- A whole small response (an error page as text), closing the connection.
function http.response(status, body, extra)
  body = body or ((http.REASONS[status] or "") .. "\n")
  local headers = {
    { "Content-Type", "text/plain; charset=utf-8" }, { "Content-Length", tostring(#body) },
    { "Connection", "close" }, { "Cache-Control", "no-store" }, { "X-Content-Type-Options", "nosniff" },
  }
  for _, h in ipairs(extra or {}) do headers[#headers + 1] = h end
  return http.head(status, headers) .. body
end

return http
