-- web/server.lua: the TCP side of `spanline serve` on luv: connections,
-- the two answers (GET of the page, GET of the event stream), and the
-- stream's clients.
--
-- Key idea: nothing here ever waits for a client. A request head must
-- arrive within a timeout and a size limit; answers are queued with
-- libuv's write queue; a stream client whose queue grows past its bound
-- (it reads too slowly, or vanished without closing) is dropped, so one
-- bad client never holds up the others, the reader, or memory. Each
-- connection serves one request.

local uv = require("luv")
local http = require("spanline.web.http")

local server = {}
local Server = {}
Server.__index = Server

local DEFAULTS = {
  host = "127.0.0.1",
  port = 8080,
  head_timeout = 10000,           -- ms to send the request head
  write_timeout = 60000,          -- ms for a page answer to drain
  queue_limit = 8 * 1024 * 1024,  -- bytes a stream client may fall behind (beyond its snapshot)
  max_connections = 64,
}

-- opts: host, port, page() -> html, snapshot() -> SSE text for a new
-- stream client, log(msg) for notes (default: ignore), and the limits above.
function server.new(opts)
  local self = setmetatable({}, Server)
  for k, v in pairs(DEFAULTS) do self[k] = v end
  for k, v in pairs(opts) do self[k] = v end
  self.clients = {}       -- stream clients (set)
  self.conns = {}         -- every open connection (set)
  self.nconns = 0
  self.dropped = 0        -- stream clients dropped for falling behind
  self.loopback = http.loopback_host(self.host) or self.host == "::1"
  return self
end

-- Binds and listens. Returns true, or nil, message, code.
function Server:listen()
  local tcp = uv.new_tcp()
  local ok, msg, code = tcp:bind(self.host, self.port)
  if not ok then
    tcp:close()
    return nil, string.format("cannot listen on %s:%d: %s", self.host, self.port, tostring(msg)), code
  end
  ok, msg, code = tcp:listen(128, function(err)
    if err then return end
    self:accept()
  end)
  if not ok then
    tcp:close()
    return nil, string.format("cannot listen on %s:%d: %s", self.host, self.port, tostring(msg)), code
  end
  self.listener = tcp
  local addr = tcp:getsockname()
  self.port = addr and addr.port or self.port
  return true
end

-- http://host:port/ as a browser would open it.
function Server:url()
  local host = self.host:find(":", 1, true) and ("[" .. self.host .. "]") or self.host
  return string.format("http://%s:%d/", host, self.port)
end

local function close(self, conn)
  if conn.closed then return end
  conn.closed = true
  if conn.timer then
    conn.timer:stop()
    conn.timer:close()
  end
  self.clients[conn] = nil
  self.conns[conn] = nil
  self.nconns = self.nconns - 1
  if not conn.tcp:is_closing() then conn.tcp:close() end
end

-- Writes text and closes the connection once it is sent (or after the
-- write timeout, for a client that does not read).
local function answer(self, conn, text)
  conn.answered = true
  conn.tcp:read_stop()
  conn.timer:stop()
  conn.timer:start(self.write_timeout, 0, function() close(self, conn) end)
  conn.tcp:write(text, function()
    if conn.closed then return end
    conn.tcp:shutdown(function() close(self, conn) end)
  end)
end

local SECURITY = {
  { "X-Content-Type-Options", "nosniff" }, { "Referrer-Policy", "no-referrer" },
  { "Cache-Control", "no-store" },
}

local function with(list, more)
  local out = {}
  for _, h in ipairs(more) do out[#out + 1] = h end
  for _, h in ipairs(list) do out[#out + 1] = h end
  return out
end

local function start_stream(self, conn)
  conn.timer:stop()
  local snapshot = self.snapshot()
  local head = http.head(200, with(SECURITY, {
    { "Content-Type", "text/event-stream; charset=utf-8" }, { "Connection", "keep-alive" },
    { "X-Accel-Buffering", "no" },
  }))
  conn.limit = #snapshot + self.queue_limit
  conn.stream = true
  self.clients[conn] = true
  conn.tcp:write(head .. "retry: 1000\n\n" .. snapshot)
end

local function route(self, conn, req)
  if not self.loopback_ok(self, req) then
    return answer(self, conn, http.response(403, "spanline serve answers only to localhost names\n"))
  end
  if req.method ~= "GET" then
    return answer(self, conn, http.response(405, nil, { { "Allow", "GET" } }))
  end
  if http.has_body(req) then return answer(self, conn, http.response(413)) end
  if req.path == "/" or req.path == "/index.html" then
    local html = self.page()
    return answer(self, conn, http.head(200, with(SECURITY, {
      { "Content-Type", "text/html; charset=utf-8" }, { "Content-Length", tostring(#html) },
      { "Connection", "close" },
    })) .. html)
  end
  if req.path == "/events" then return start_stream(self, conn) end
  return answer(self, conn, http.response(404))
end

-- A loopback server answers only requests naming a loopback host.
function Server.loopback_ok(self, req)
  if not self.loopback then return true end
  return http.loopback_host(req.headers.host) or req.version == "1.0" and req.headers.host == nil
end

function Server:accept()
  local tcp = uv.new_tcp()
  if not self.listener:accept(tcp) then
    tcp:close()
    return
  end
  local conn = { tcp = tcp, buf = "", timer = uv.new_timer() }
  self.conns[conn] = true
  self.nconns = self.nconns + 1
  if self.nconns > self.max_connections then
    return answer(self, conn, http.response(503))
  end
  conn.timer:start(self.head_timeout, 0, function()
    answer(self, conn, http.response(408))
  end)
  tcp:read_start(function(err, chunk)
    if conn.closed then return end
    if err or not chunk then return close(self, conn) end
    if conn.stream or conn.answered then return end   -- nothing more is read from a stream client
    conn.buf = conn.buf .. chunk
    local req, status, msg = http.parse(conn.buf)
    if req == nil then return end
    conn.buf = ""
    if req == false then return answer(self, conn, http.response(status, msg .. "\n")) end
    route(self, conn, req)
  end)
end

-- Sends one event to every stream client; drops those too far behind.
function Server:broadcast(event, data)
  local text = "event: " .. event .. "\ndata: " .. data .. "\n\n"
  for conn in pairs(self.clients) do
    local queued = conn.tcp:get_write_queue_size()
    if queued + #text > conn.limit then
      self.dropped = self.dropped + 1
      if self.log then self.log(string.format("dropped a client %d bytes behind", queued)) end
      close(self, conn)
    else
      conn.tcp:write(text, function(err)
        if err then close(self, conn) end
      end)
    end
  end
end

function Server:client_count()
  local n = 0
  for _ in pairs(self.clients) do n = n + 1 end
  return n
end

function Server:close()
  for conn in pairs(self.conns) do close(self, conn) end
  if self.listener and not self.listener:is_closing() then self.listener:close() end
end

return server
