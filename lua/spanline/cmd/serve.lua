-- cmd/serve.lua: `spanline serve FILE`: the HTML page of `export --to html`,
-- live: a small HTTP server (luv) streams the file's spans to every
-- browser that opens it while the file grows (lua/spanline/web/).
local args = require("spanline.cli.args")

local USAGE = [[
usage: spanline serve FILE [--port 8080] [--host 127.0.0.1]

Serves the trace page (timeline, span list, details, report) at
http://HOST:PORT/ and streams FILE's spans to it as the file grows: new
spans appear and running spans grow while you watch. Several browsers may
watch at once. --port 0 picks a free port; the URL is printed on stdout.

Listens on the loopback address only, unless --host names another (then
anyone who can reach that address can read the trace: a warning says so).
Only GET / and GET /events are answered. Ctrl-C stops.
]]

local function fail(msg, code)
  io.stderr:write("spanline serve: ", msg, "\n")
  return code or 1
end

local function is_loopback(host)
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local function run(argv)
  local opts, pos = args.parse(argv, { ["--port"] = "value", ["--host"] = "value" })
  if not opts then return fail(pos, 2) end
  if #pos ~= 1 then return fail("expected one FILE (see spanline serve --help)", 2) end
  local port, bad = args.integer(opts, "port", 0)
  if bad then return fail(bad, 2) end
  port = port or 8080
  if port > 65535 then return fail("--port needs an integer <= 65535", 2) end
  local host = opts.host or "127.0.0.1"
  if host == "localhost" then host = "127.0.0.1" end
  if host == "" then return fail("--host needs an address", 2) end

  local uv = require("luv")
  local live_mod = require("spanline.web.live")
  local page = require("spanline.web.page")
  local server_mod = require("spanline.web.server")

  local path = pos[1]
  local name = path:match("[^/]*$")
  local live, msg = live_mod.open(path, { file = name })
  if not live then return fail(require("spanline.cli.spanfile").open_error(path, msg)) end
  local html, err = page.render('{"v":1,"live":"events"}', { title = "spanline: " .. name .. " (live)" })
  if not html then return fail(err) end

  local server = server_mod.new({
    host = host, port = port,
    page = function() return html end,
    snapshot = function() return live:snapshot() end,
    log = os.getenv("SPANLINE_DEBUG") and function(m) io.stderr:write("spanline serve: ", m, "\n") end or nil,
  })
  local ok, why = server:listen()
  if not ok then
    live:stop()
    return fail(why)
  end
  if not is_loopback(host) then
    io.stderr:write("spanline serve: warning: listening on ", host,
      ", not the loopback address: anyone who can reach it can read this trace\n")
  end
  io.stdout:write(server:url(), "\n")
  io.stdout:flush()

  live:run(server)
  local status = 0
  local signals = {}
  -- a browser that went away must not kill the server: writes to it fail
  -- with EPIPE instead
  local pipe = uv.new_signal()
  pipe:start("sigpipe", function() end)
  signals[1] = pipe
  for signame, code in pairs({ sigint = 130, sigterm = 143, sighup = 129 }) do
    local sig = uv.new_signal()
    sig:start(signame, function()
      status = code
      server:close()
      live:stop()
      for _, s in ipairs(signals) do s:close() end
    end)
    signals[#signals + 1] = sig
  end
  uv.run("default")
  return status
end

return {
  summary = "serve the trace page and stream the file's spans to browsers, live",
  usage = USAGE,
  run = run,
}
