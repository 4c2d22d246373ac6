-- cmd/filter.lua: `spanline filter FILE --where EXPR`: the records of the
-- matching spans as a spanline/1 JSONL stream (meta line first).
--
-- Spans are judged when they end (open ones at EOF), so a span's records
-- come out together; spanline JSONL lines pass through byte for byte, other
-- inputs (msgpack, js-logger) are re-encoded. Memory: the open spans.
local args = require("spanline.cli.args")
local core = require("spanline.core")
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
  local fields = query.expr_fields(opts.where)
  local fast = spanfile.fast_ok(fields) and not os.getenv("SPANLINE_NO_FAST")
  local q, msg
  if fast then
    q, msg = spanfile.fast(pos[1], fields, { raw = true })
  else
    q, msg = spanfile.open(pos[1], { raw = true })
  end
  if not q then
    io.stderr:write("spanline filter: ", msg, "\n")
    return 1
  end
  local source = q.source
  local meta_done = false
  local function write_meta()
    meta_done = true
    local m = source.meta
    if fast then
      local line = source.stream:meta()
      out:write(line or '{"type":"meta","format":"spanline/1"}', "\n")
    elseif m and not m.foreign and m.raw then
      out:write(m.raw, "\n")
    elseif m then
      out:write(core.record_jsonl(m))
    else
      out:write('{"type":"meta","format":"spanline/1"}\n')
    end
  end
  if fast then
    -- The whole loop runs in C; only the expression is Lua.
    local matched, failures, first, seen = source.stream:filter(bare, out, limit)
    if query.is_limit_error(first) then error(first, 0) end
    if not matched then
      io.stderr:write("spanline filter: ", tostring(failures), "\n")
      return 1
    end
    meta_done = matched > 0
    state.errors, state.first = failures, first and tostring(first):gsub("^expr:%d+: ", "")
    source.records = seen + (source.stream:meta() and 1 or 0)
  else
    local n = 0
    for s in q:spans().gen do
      if pred(s) then
        if not meta_done then write_meta() end
        local recs = s.records
        if recs then
          for i = 1, #recs do
            local line = recs[i]
            if line:sub(-1) == "\n" then out:write(line) else out:write(line, "\n") end
          end
        end
        n = n + 1
        if limit and n >= limit then break end
      end
    end
  end
  local problem = spanfile.check(q)
  if problem then
    io.stderr:write("spanline filter: ", problem, "\n")
    return 1
  end
  if not meta_done then write_meta() end
  out:flush()
  local note = spanfile.bad_note(q)
  if note then io.stderr:write("spanline filter: ", note, "\n") end
  note = spanfile.where_note(state)
  if note then io.stderr:write("spanline filter: ", note, "\n") end
  return 0
end

return { summary = "write the records of the spans matching --where EXPR", usage = USAGE, run = run }
