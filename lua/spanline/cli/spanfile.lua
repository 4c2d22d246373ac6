-- spanfile.lua: what report, filter and tree share: opening a span file for
-- a command with one-line errors, counting records, the --where expression,
-- and the note about skipped lines. (Not a command itself: no `run`.)

local core = require("spanline.core")
local processes = require("spanline.cli.processes")
local query = require("spanline.query")

local spanfile = {}

-- Opens path ("-" = stdin) as a records query that counts what it yields.
-- opts.pid keeps the records of that process only (cli/processes.lua);
-- q.source.processes lists the pids seen. Returns q, or nil and a one-line
-- message.
function spanfile.open(path, opts)
  opts = opts or {}
  local q, msg = query.open(path, { raw = opts.raw, max_line = opts.max_line })
  if not q then
    msg = tostring(msg)
    if not msg:find(path, 1, true) then msg = path .. ": " .. msg end
    return nil, "cannot read " .. msg
  end
  local gen, procs = processes.select(q.gen, opts.pid)
  local source = q.source
  source.processes = procs
  source.records = 0
  source.path = path
  q.gen = function()
    local rec = gen()
    if rec then source.records = source.records + 1 end
    return rec
  end
  return q
end

-- Fields the C span stream fills (core.span_stream); events and children
-- need the Lua assembler.
local FAST = { id = true, trace = true, parent = true, name = true, start = true, finish = true,
  dur = true, status = true, error = true, attrs = true, lane = true, depth = true, self = true,
  orphan = true, remote_parent = true, line = true }

function spanfile.fast_ok(fields)
  for _, f in ipairs(fields) do
    if not FAST[f] then return false end
  end
  return true
end

-- Spans assembled in C, as a query whose items are ONE reused table (fine
-- for streaming consumers: where, stats, writing; never collect them).
-- Returns q, or nil and a one-line message. q.source.stream writes raw.
function spanfile.fast(path, fields, opts)
  opts = opts or {}
  local reader, msg = core.reader(path, { max_line = opts.max_line })
  if not reader then
    msg = tostring(msg)
    if not msg:find(path, 1, true) then msg = path .. ": " .. msg end
    return nil, "cannot read " .. msg
  end
  local stream = core.span_stream(reader, { fields = fields, raw = opts.raw })
  local source = { reader = reader, stream = stream, records = 0, path = path }
  local q = query.from_iter(function()
    local s, err = stream:next()
    if s == nil and err then error(err, 0) end
    if not s then
      if stream:meta() then source.records = source.records + 1 end
      return nil
    end
    source.records = source.records + 1
    return s
  end, source)
  return q
end

-- After reading: an error message for an empty or unreadable-as-spans file.
function spanfile.check(q)
  local source = q.source
  if source.records > 0 then return nil end
  local bad, lines = q:bad_lines()
  if bad > 0 then
    return string.format("%s: no span records (%d bad line%s, first at line %d)",
      source.path, bad, bad == 1 and "" or "s", lines[1] or 0)
  end
  return source.path .. ": empty file (no span records)"
end

-- "skipped N bad lines (first: a, b, c)" or nil.
function spanfile.bad_note(q)
  local bad, lines = q:bad_lines()
  if bad == 0 then return nil end
  local first = {}
  for i = 1, math.min(#lines, 10) do first[i] = tostring(lines[i]) end
  return string.format("skipped %d bad line%s (first: %s%s)", bad, bad == 1 and "" or "s",
    table.concat(first, ", "), bad > #first and ", ..." or "")
end

-- Compiles --where: a predicate that counts failures as no match, its
-- state ({ errors, first }) and the bare compiled function; on a syntax
-- error returns nil and the message lines (the expression, a caret under
-- the position).
function spanfile.where(expr)
  local fn, msg, col = query.compile_where(expr)
  if fn then
    -- A span the expression cannot evaluate (dur of an open span compared
    -- with a number, say) does not match; the first such error is kept.
    local state = { errors = 0 }
    return function(s)
      local ok, v = pcall(fn, s)
      if ok then return v and true or false end
      if query.is_limit_error(v) then error(v, 0) end   -- over budget: the command ends
      state.errors = state.errors + 1
      if not state.first then state.first = tostring(v):gsub("^expr:%d+: ", "") end
      return false
    end, state, fn
  end
  return nil, string.format("bad --where expression: %s\n  %s\n  %s^", msg, expr,
    string.rep(" ", (col or 1) - 1))
end

function spanfile.where_note(state)
  if not state or state.errors == 0 then return nil end
  return string.format("--where failed on %d span%s (counted as no match): %s", state.errors,
    state.errors == 1 and "" or "s", require("spanline.text").clean(tostring(state.first)))
end

return spanfile
