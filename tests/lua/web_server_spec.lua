-- spanline.web.server on luv, in-process: a stream client that does not
-- read is dropped once it is a bounded amount behind, while a client that
-- reads receives every event; a vanished client is forgotten.
local uv = require("luv")
local server_mod = require("spanline.web.server")

local function run_until(pred, ms)
  local deadline = uv.now() + ms
  while not pred() and uv.now() < deadline do
    uv.run("once")
    uv.update_time()
  end
  return pred()
end

local function client(port, on_data)
  local tcp = uv.new_tcp()
  local c = { tcp = tcp, bytes = 0, text = {}, connected = false }
  tcp:connect("127.0.0.1", port, function(err)
    assert(not err, err)
    c.connected = true
    tcp:write("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    if on_data then
      tcp:read_start(function(_, chunk)
        if chunk then
          c.bytes = c.bytes + #chunk
          on_data(c, chunk)
        else
          c.eof = true
        end
      end)
    end
  end)
  return c
end

describe("web.server stream clients", function()
  local srv
  after_each(function()
    if srv then srv:close() end
    uv.run("nowait")
  end)

  it("drops a client that does not read; the others get everything", function()
    srv = server_mod.new({
      host = "127.0.0.1", port = 0, queue_limit = 256 * 1024,
      page = function() return "page" end,
      snapshot = function() return "event: snapshot\ndata: {}\n\n" end,
    })
    assert.is_true(srv:listen())
    local events = 0
    local reader = client(srv.port, function(_, chunk)
      for _ in chunk:gmatch("event: spans\n") do events = events + 1 end
    end)
    local deaf = client(srv.port, nil)  -- never reads
    assert.is_true(run_until(function() return srv:client_count() == 2 end, 5000))
    local payload = string.rep("x", 64 * 1024)
    local sent = 0
    -- far more than the kernel buffers and the queue bound hold
    for _ = 1, 600 do
      srv:broadcast("spans", payload)
      sent = sent + 1
      uv.run("nowait")
      if srv.dropped > 0 and sent > 50 then break end
    end
    assert.equal(1, srv.dropped)
    assert.equal(1, srv:client_count())
    assert.is_true(run_until(function() return events == sent end, 10000))
    reader.tcp:close()
    deaf.tcp:close()
  end)

  it("forgets a client that went away", function()
    srv = server_mod.new({
      host = "127.0.0.1", port = 0,
      page = function() return "page" end,
      snapshot = function() return "event: snapshot\ndata: {}\n\n" end,
    })
    assert.is_true(srv:listen())
    local c = client(srv.port, function() end)
    assert.is_true(run_until(function() return srv:client_count() == 1 end, 5000))
    c.tcp:close()
    assert.is_true(run_until(function() return srv:client_count() == 0 end, 5000))
    srv:broadcast("spans", "{}")   -- nobody left: nothing breaks
  end)
end)
