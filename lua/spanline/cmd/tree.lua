-- cmd/tree.lua: `spanline tree FILE`: span trees as plain text.
local args = require("spanline.cli.args")
local processes = require("spanline.cli.processes")
local spanfile = require("spanline.cli.spanfile")
local tree_text = require("spanline.tree_text")
local report = require("spanline.report")
local text = require("spanline.text")

local USAGE = [[
usage: spanline tree FILE [--trace ID] [--depth N] [--pid N]

Prints every trace (or the one whose id starts with ID) as a tree of spans,
children in start order, with durations, errors, open and orphan spans
marked. Each trace is printed once none of its spans is open (so in the
order traces complete; those still open at the end last, by start), and
memory holds only the traces not complete yet. FILE "-" reads stdin. A
file that several processes wrote says so; --pid N shows one process's
spans.
]]

local function run(argv)
  local opts, pos = args.parse(argv, { ["--trace"] = "value", ["--depth"] = "value", ["--pid"] = "value" })
  if not opts then
    io.stderr:write("spanline tree: ", pos, "\n")
    return 2
  end
  if #pos ~= 1 then
    io.stderr:write("spanline tree: expected one FILE\n", USAGE)
    return 2
  end
  local depth, bad = args.integer(opts, "depth", 0)
  local pid, bad_pid = processes.pid_option(opts.pid)
  bad = bad or bad_pid
  if bad then
    io.stderr:write("spanline tree: ", bad, "\n")
    return 2
  end
  local q, msg = spanfile.open(pos[1], { pid = pid })
  if not q then
    io.stderr:write("spanline tree: ", msg, "\n")
    return 1
  end
  -- One trace at a time, printed as soon as it is complete: memory is
  -- bounded by the traces still open, not by the file.
  local out, shown = io.stdout, 0
  out:setvbuf("full", 1 << 16)
  local ends_only = 0   -- traces without a start record (started before the file begins)
  for t in q:each_trace() do
    if t.spans == 0 then
      ends_only = ends_only + 1   -- nothing to draw: no name, no start
    elseif not opts.trace or t.trace:sub(1, #opts.trace) == opts.trace then
      out:write(shown > 0 and "\n" or "", string.format("trace %s  %d span%s  %s%s%s\n", text.clean(t.trace),
        t.spans, t.spans == 1 and "" or "s", (t.open > 0 and ">=" or "") .. report.duration(t.dur),
        t.errors > 0 and string.format("  %d error%s", t.errors, t.errors == 1 and "" or "s") or "",
        t.open > 0 and string.format("  %d open", t.open) or ""))
      out:write(tree_text.render(t.roots, { max_depth = depth }))
      shown = shown + 1
    end
  end
  out:flush()
  local problem = spanfile.check(q)
  if problem then
    io.stderr:write("spanline tree: ", problem, "\n")
    return 1
  end
  for _, line in ipairs(spanfile.input_notes(q)) do io.stderr:write("spanline tree: ", line, "\n") end
  local note = spanfile.ends_only_note(ends_only, "trace", "not shown")
  if note then io.stderr:write("spanline tree: ", note, "\n") end
  note = spanfile.processes_note(q, pid)
  if note then io.stderr:write("spanline tree: ", note, "\n") end
  if opts.trace and shown == 0 then
    io.stderr:write("spanline tree: no trace starting with '", opts.trace, "'\n")
    return 1
  end
  return 0
end

return { summary = "print the span trees as text", usage = USAGE, run = run }
