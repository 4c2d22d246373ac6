-- spanline.web.http: request heads parsed robustly (partial, malformed,
-- oversized, hostile Host), response heads written right.
local http = require("spanline.web.http")

describe("web.http.parse", function()
  it("parses a GET with headers", function()
    local req = http.parse("GET /events?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: text/event-stream\r\n\r\n")
    assert.equal("GET", req.method)
    assert.equal("/events", req.path)
    assert.equal("x=1", req.query)
    assert.equal("1.1", req.version)
    assert.equal("127.0.0.1:8080", req.headers.host)
    assert.equal("text/event-stream", req.headers.accept)
  end)

  it("waits for the rest of a head that is not complete", function()
    assert.is_nil(http.parse(""))
    assert.is_nil(http.parse("GET / HTTP/1.1\r\nHost: x\r\n"))
    assert.truthy(http.parse("GET / HTTP/1.1\nHost: x\n\n"))  -- bare LF too
  end)

  it("refuses what is malformed", function()
    local function status(text) return select(2, http.parse(text)) end
    assert.equal(400, status("garbage\r\n\r\n"))
    assert.equal(400, status("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert.equal(400, status("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert.equal(400, status("GET / HTTP/1.1\r\n\r\n"))                      -- no Host
    assert.equal(400, status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"))
    assert.equal(400, status("GET / HTTP/1.1\r\nHost: x\r\nbad line\r\n\r\n"))
    assert.equal(400, status("GET / HTTP/1.1\r\nHost: x\r\nX: a\1b\r\n\r\n"))
    assert.equal(400, status("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert.equal(505, status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"))
  end)

  it("limits the head's size and header count", function()
    assert.equal(431, select(2, http.parse("GET / HTTP/1.1\r\nX: " .. string.rep("a", http.MAX_HEAD))))
    local many = { "GET / HTTP/1.1", "Host: x" }
    for i = 1, http.MAX_HEADERS + 1 do many[#many + 1] = "X-" .. i .. ": 1" end
    assert.equal(431, select(2, http.parse(table.concat(many, "\r\n") .. "\r\n\r\n")))
  end)

  it("tells a body announced", function()
    assert.is_true(http.has_body(http.parse("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n")))
    assert.is_true(http.has_body(http.parse("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")))
    assert.is_false(http.has_body(http.parse("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")))
  end)
end)

describe("web.http.loopback_host", function()
  it("accepts only loopback names, with or without a port", function()
    for _, h in ipairs({ "localhost", "localhost:80", "127.0.0.1", "127.0.0.1:8080", "127.1.2.3:1", "[::1]:8080", "LOCALHOST" }) do
      assert.is_true(http.loopback_host(h), h)
    end
    for _, h in ipairs({ "evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil", "", "[::2]" }) do
      assert.is_false(http.loopback_host(h), h)
    end
    assert.is_false(http.loopback_host(nil))
  end)
end)

describe("web.http responses", function()
  it("writes a status line, headers in order and the body length", function()
    local text = http.response(405, nil, { { "Allow", "GET" } })
    assert.truthy(text:find("^HTTP/1.1 405 Method Not Allowed\r\n"))
    assert.truthy(text:find("\r\nAllow: GET\r\n", 1, true))
    local body = text:match("\r\n\r\n(.*)$")
    assert.equal(tonumber(text:match("Content%-Length: (%d+)")), #body)
  end)
end)
