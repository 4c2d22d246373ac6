-- cmd/export.lua: `spanline export FILE --to FORMAT [-o OUT]` (a minimal
-- stand-in for the otlp helper's command: it only dispatches by the
-- exporter contract: spanline.export.<format> returns { summary, export }).
local args = require("spanline.cli.args")
local spanfile = require("spanline.cli.spanfile")

local USAGE = [[
usage: spanline export FILE --to FORMAT [-o OUT]

Writes FILE's spans in another format (to OUT, default stdout).
  --to html   one self-contained HTML page (timeline, spans, report)
]]

local function fail(msg, code)
  io.stderr:write("spanline export: ", msg, "\n")
  return code or 1
end

local function run(argv)
  local opts, pos = args.parse(argv, {
    ["--to"] = "value", ["--output"] = "value", aliases = { ["-o"] = "--output" },
  })
  if not opts then return fail(pos, 2) end
  if #pos ~= 1 then return fail("expected one FILE\n" .. USAGE, 2) end
  if not opts.to or not opts.to:match("^[%w%-]+$") then return fail("--to FORMAT is required", 2) end
  local ok, exporter = pcall(require, "spanline.export." .. opts.to:gsub("%-", "_"))
  if not ok or type(exporter) ~= "table" or type(exporter.export) ~= "function" then
    return fail("unknown format '" .. opts.to .. "'", 2)
  end
  local q, msg = spanfile.open(pos[1])
  if not q then return fail(msg) end
  local out, err = io.stdout, nil
  if opts.output and opts.output ~= "-" then
    out, err = io.open(opts.output, "wb")
    if not out then return fail("cannot write " .. tostring(err)) end
  end
  local done, why = exporter.export(q, out, { file = pos[1]:match("[^/]*$") })
  if out ~= io.stdout then out:close() end
  if not done then return fail(why) end
  local problem = spanfile.check(q)
  if problem then return fail(problem) end
  local note = spanfile.bad_note(q)
  if note then io.stderr:write("spanline export: ", note, "\n") end
  return 0
end

return { summary = "write spans in another format (html)", usage = USAGE, run = run }
