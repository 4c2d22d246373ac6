-- cmd/convert.lua: `spanline convert FILE --to jsonl|msgpack [-o OUT]`: the
-- same records in the other encoding.
--
-- Lossless both ways: records are read by the core's reader and written by
-- the core's own encoders (the ones the tracer writes with), so a file the
-- tracer wrote comes back byte for byte after jsonl -> msgpack -> jsonl.
-- Other inputs (js-logger) come out as spanline/1 records. Streams in
-- bounded memory; lines that cannot be read are skipped and reported.
local args = require("spanline.cli.args")
local core = require("spanline.core")

local USAGE = [[
usage: spanline convert FILE --to jsonl|msgpack [-o OUT]

Writes FILE's records as JSONL or MessagePack (stdout unless -o). FILE may be
JSONL, MessagePack or js-logger JSONL; "-" reads stdin.
]]

local function fail(msg, status)
  io.stderr:write("spanline convert: ", msg, "\n")
  return status or 1
end

local function run(argv)
  local opts, pos = args.parse(argv, { ["--to"] = "value", ["--output"] = "value",
    aliases = { ["-o"] = "--output" } })
  if not opts then return fail(pos, 2) end
  if #pos ~= 1 or not opts.to then
    io.stderr:write("spanline convert: expected FILE and --to jsonl|msgpack\n", USAGE)
    return 2
  end
  if opts.to ~= "jsonl" and opts.to ~= "msgpack" then return fail("--to must be jsonl or msgpack", 2) end
  local reader, msg = core.reader(pos[1], {})
  if not reader then return fail("cannot read " .. tostring(msg)) end
  local out = io.stdout
  if opts.output then
    local err
    out, err = io.open(opts.output, "wb")
    if not out then return fail("cannot write " .. tostring(err)) end
  end
  out:setvbuf("full", 1 << 16)
  local recoder = core.recoder(opts.to)
  local skipped = 0
  repeat
    local bytes, status, n = recoder:recode(reader, 4096)
    if not bytes then return fail(tostring(status)) end
    out:write(bytes)
    skipped = skipped + n
  until status ~= "more"
  if out ~= io.stdout then out:close() else out:flush() end
  if skipped > 0 then
    io.stderr:write(string.format("spanline convert: skipped %d record%s with unreadable attributes\n",
      skipped, skipped == 1 and "" or "s"))
  end
  local bad, lines = reader:bad_lines()
  if bad > 0 then
    io.stderr:write(string.format("spanline convert: skipped %d unreadable line%s (first at line %d)\n",
      bad, bad == 1 and "" or "s", lines[1] or 0))
  end
  return 0
end

return { summary = "rewrite a span file as JSONL or MessagePack (lossless)", usage = USAGE, run = run }
