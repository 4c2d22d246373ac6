-- cmd/filter.lua: `spanline filter FILE --where EXPR`: the records of the
-- matching spans as a spanline/1 JSONL stream (meta line first).
--
-- Spans are judged when they end (open ones at EOF), so a span's records
-- come out together; spanline JSONL lines pass through byte for byte, other
-- inputs (msgpack, js-logger) are re-encoded. Memory: the open spans.
local args = require("spanline.cli.args")
local expr_simple = require("spanline.query.expr_simple")
local query = require("spanline.query")
local spanfile = require("spanline.cli.spanfile")

local USAGE = [[
usage: spanline filter FILE --where EXPR [--limit N]

Writes the records of the spans for which EXPR is true, as JSONL. EXPR is a
Lua expression over span fields (id trace parent name start finish dur status
error attrs lane depth self orphan remote_parent); durations take units:
  spanline filter spans.jsonl --where 'dur > 5ms and name:find("db")'
FILE "-" reads stdin.
]]

local function run(argv)
  local opts, pos = args.parse(argv, { ["--where"] = "value", ["--limit"] = "value" })
  if not opts then
    io.stderr:write("spanline filter: ", pos, "\n")
    return 2
  end
  if #pos ~= 1 or not opts.where then
    io.stderr:write("spanline filter: expected FILE and --where EXPR\n", USAGE)
    return 2
  end
  local limit, bad = args.integer(opts, "limit", 0)
  if bad then
    io.stderr:write("spanline filter: ", bad, "\n")
    return 2
  end
  local pred, state, bare = spanfile.where(opts.where)
  if not pred then
    io.stderr:write("spanline filter: ", state, "\n")
    return 2
  end
  local out = io.stdout
  out:setvbuf("full", 1 << 16)
  local q, msg = spanfile.open(pos[1], { raw = true })
  if not q then
    io.stderr:write("spanline filter: ", msg, "\n")
    return 1
  end
  -- The loop runs in C with only the fields the expression reads; only
  -- the expression is Lua, and not even that when it is simple enough.
  local matched, failures, first = query.filter(q, bare, out, { fields = spanfile.fields({}, opts.where),
    limit = limit, program = expr_simple.program(opts.where) })
  if query.is_limit_error(first) then error(first, 0) end
  if not matched then
    io.stderr:write("spanline filter: ", tostring(failures), "\n")
    return 1
  end
  state.errors, state.first = failures, first and tostring(first):gsub("^expr:%d+: ", "")
  local problem = spanfile.check(q)
  if problem then
    io.stderr:write("spanline filter: ", problem, "\n")
    return 1
  end
  if matched == 0 then
    local asm = q.source.assembler
    out:write(asm and asm:meta() or '{"type":"meta","format":"spanline/1"}', "\n")
  end
  out:flush()
  for _, line in ipairs(spanfile.input_notes(q)) do io.stderr:write("spanline filter: ", line, "\n") end
  local note = spanfile.where_note(state)
  if note then io.stderr:write("spanline filter: ", note, "\n") end
  return 0
end

return { summary = "write the records of the spans matching --where EXPR", usage = USAGE, run = run }
