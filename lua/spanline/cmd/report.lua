-- cmd/report.lua: `spanline report FILE`: the latency table per group.
local args = require("spanline.cli.args")
local processes = require("spanline.cli.processes")
local report = require("spanline.report")
local spanfile = require("spanline.cli.spanfile")

local USAGE = [[
usage: spanline report FILE [--by name|trace|status|attr.KEY] [--where EXPR]
                            [--format table|csv|json] [--top N] [--pid N]

Latency statistics per group (default: per span name), largest total first:
count, errors, open, total, min, mean, stdev, p50/p90/p95/p99 (nearest rank),
max, self time. FILE "-" reads stdin. EXPR is a Lua expression over span
fields (id trace parent name start finish dur status error attrs lane depth
self orphan remote_parent); durations take units: `dur > 5ms`. A file that
several processes wrote says so; --pid N reports one process's spans.
]]

local function run(argv)
  local opts, pos = args.parse(argv, {
    ["--by"] = "value", ["--where"] = "value", ["--format"] = "value", ["--top"] = "value",
    ["--pid"] = "value",
  })
  if not opts then
    io.stderr:write("spanline report: ", pos, "\n")
    return 2
  end
  if #pos ~= 1 then
    io.stderr:write("spanline report: expected one FILE\n", USAGE)
    return 2
  end
  local by = opts.by or "name"
  if not (by == "name" or by == "trace" or by == "status" or by:match("^attrs?%.(.+)$")) then
    io.stderr:write("spanline report: --by must be name, trace, status or attr.KEY\n")
    return 2
  end
  local format = opts.format or "table"
  if format ~= "table" and format ~= "csv" and format ~= "json" then
    io.stderr:write("spanline report: --format must be table, csv or json\n")
    return 2
  end
  local top, bad = args.integer(opts, "top", 1)
  local pid, bad_pid = processes.pid_option(opts.pid)
  bad = bad or bad_pid
  if bad then
    io.stderr:write("spanline report: ", bad, "\n")
    return 2
  end
  local pred, state
  if opts.where then
    pred, state = spanfile.where(opts.where)
    if not pred then
      io.stderr:write("spanline report: ", state, "\n")
      return 2
    end
  end
  -- Only the fields the table and the expression read, in one reused table.
  local attr = by:match("^attrs?%.(.+)$")
  local fields = spanfile.fields({ "dur", "status", "self", attr and "attrs" or by }, opts.where)
  local q, msg = spanfile.open(pos[1], { pid = pid, prints_at_end = true })
  if not q then
    io.stderr:write("spanline report: ", msg, "\n")
    return 1
  end
  local spans = q:spans({ fields = fields, reuse = true, started_only = true })
  if pred then spans = spans:where(pred) end
  local rows = spans:group_by(by):stats()
  local problem = spanfile.check(q)
  if problem then
    io.stderr:write("spanline report: ", problem, "\n")
    return 1
  end
  for _, line in ipairs(spanfile.input_notes(q)) do io.stderr:write("spanline report: ", line, "\n") end
  local note = spanfile.ends_only_note(q:ends_only(), "span", "left out")
  if note then io.stderr:write("spanline report: ", note, "\n") end
  note = spanfile.where_note(state)
  if note then io.stderr:write("spanline report: ", note, "\n") end
  note = spanfile.processes_note(q, pid)
  if note then io.stderr:write("spanline report: ", note, "\n") end
  if top then
    for i = #rows, top + 1, -1 do rows[i] = nil end
  end
  io.stdout:write(report.render(rows, format, { title = by }))
  return 0
end

return { summary = "latency statistics per span name (or trace, status, attribute)", usage = USAGE, run = run }
