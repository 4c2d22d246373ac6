-- export/html.lua: `spanline export FILE --to html`: one self-contained
-- HTML file (timeline, span list, details, latency report, trace picker)
-- with the spans inside it.
--
-- Key idea: the spans go through spanline.query (traces() for whole trees,
-- self time from the assembler, the report rows from stats()) and are
-- embedded as one compact batch (web/data.lua) in the same page that
-- `spanline serve` streams to (web/page.lua); the page itself is plain
-- JavaScript and CSS from web/.

local data = require("spanline.web.data")
local page = require("spanline.web.page")
local query = require("spanline.query")

local html = {
  summary = "one self-contained HTML page: timeline, span list, details, report",
}

-- Every span of every trace, each tree in depth-first order (children by
-- start), and the latest timestamp seen (the "now" of spans never ended).
local function flatten(traces)
  local list, last = {}, nil
  local function seen(ts)
    if ts and (last == nil or ts > last) then last = ts end
  end
  for _, t in ipairs(traces) do
    for _, root in ipairs(t.roots) do
      local stack, n = { root }, 1
      while n > 0 do
        local s = stack[n]
        stack[n] = nil
        n = n - 1
        list[#list + 1] = s
        seen(s.start)
        seen(s.finish)
        for _, ev in ipairs(s.events) do seen(ev.ts) end
        local kids = s.children
        for i = #kids, 1, -1 do
          n = n + 1
          stack[n] = kids[i]
        end
      end
    end
  end
  return list, last
end

-- The page's data for query q (a JSON text). opts: file (shown as the
-- title), service.
function html.data(q, opts)
  opts = opts or {}
  local traces = q:traces()
  local spans, now = flatten(traces)
  local rows = query.from_spans(spans):group_by("name"):stats()
  local meta = q:meta() or {}
  local bad = q:bad_lines()
  local info = {
    file = opts.file, service = opts.service or meta.service, host = meta.host, pid = meta.pid,
    bad_lines = bad, cycles = q:cycles(), traces = #traces,
  }
  local enc = data.encoder()
  return enc:batch(spans, {
    snapshot = true, now = now, info = info,
    report = { rows = rows, columns = data.report_columns() },
  })
end

-- The exporter (see the contract in cmd/export.lua): writes the page to out.
function html.export(q, out, opts)
  opts = opts or {}
  local ok, json = pcall(html.data, q, opts)
  if not ok then return nil, tostring(json), "EINVAL" end
  local text, msg = page.render(json, { title = "spanline: " .. (opts.file or "trace") })
  if not text then return nil, msg, "ENOENT" end
  local wrote, err, code = out:write(text)
  if not wrote then return nil, err, code end
  return true
end

return html
