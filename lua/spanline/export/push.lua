-- export/push.lua: `spanline export FILE --to otlp-json|otlp-proto
-- --endpoint URL`: a file's spans shipped to an OpenTelemetry collector.
-- (Not a format itself: it has no `export`.)
--
-- Key idea: the core's exporter (core/src/otlp_http.c) does the HTTP on a
-- thread of its own, batching (size and time bounded), retrying with
-- backoff and dropping (counted) past its queue; this loop only feeds it
-- records. With --follow it feeds what is appended to the file every
-- 100 ms until SIGINT or SIGTERM, then delivers what it has (bounded wait)
-- and reports. Open spans are shipped only with --include-open, at the end.

local core = require("spanline.core")

local push = {}

local FEED = 4096
local FINAL_WAIT_MS = 30000   -- after the last record: time for the collector to take the rest

local function headers_of(list)
  local out = {}
  for _, h in ipairs(list or {}) do
    local k, v = h:match("^%s*([^=:%s]+)%s*[=:]%s*(.-)%s*$")
    if not k then return nil, "--header needs K=V, got '" .. h .. "'" end
    out[#out + 1] = k .. ": " .. v
  end
  return out
end

local function report(px, log)
  local st = px:stats()
  local lost = st.dropped + st.queued + st.rejected
  log:write(string.format("spanline export: %d spans sent in %d requests (%d retried), %d dropped%s%s%s\n",
    st.sent, st.requests, st.retries, st.dropped + st.queued,
    st.rejected > 0 and string.format(", %d rejected by the collector (partial success)", st.rejected) or "",
    st.dropped_open > 0 and string.format(", %d open spans left out (--include-open)", st.dropped_open) or "",
    st.bad > 0 and string.format(", %d bad records", st.bad) or ""))
  return lost
end

-- push.run(path, "json"|"proto", opts, log) -> true | nil, message
function push.run(path, format, opts, log)
  local headers, herr = headers_of(opts.header)
  if not headers then return nil, herr end
  local reader, msg = core.reader(path, { follow = opts.follow })
  if not reader then return nil, "cannot read " .. tostring(msg) end
  local px, perr = core.otlp{
    endpoint = opts.endpoint, headers = headers, format = format, batch = opts.batch, queue = opts.queue,
    include_open = opts.include_open, service = opts.service,
  }
  if not px then return nil, perr end

  local function finish()
    px:finish()
    px:drain(opts.timeout_ms or FINAL_WAIT_MS)
    local lost = report(px, log)
    px:close()
    if lost > 0 then return nil, lost .. " spans were not delivered" end
    return true
  end

  if not opts.follow then
    repeat
      local status = px:feed(reader, FEED)
    until status ~= "more"
    return finish()
  end

  local uv = require("luv")
  local result, rmsg
  local timer = uv.new_timer()
  local signals = {}
  local function stop()
    timer:stop()
    for _, s in ipairs(signals) do s:stop() s:close() end
    timer:close()
    while px:feed(reader, FEED) == "more" do end
    result, rmsg = finish()
  end
  timer:start(0, 100, function()
    while px:feed(reader, FEED) == "more" do end
  end)
  for _, name in ipairs({ "sigint", "sigterm" }) do
    local sig = uv.new_signal()
    sig:start(name, stop)
    signals[#signals + 1] = sig
  end
  uv.run()
  return result, rmsg
end

return push
