-- spanfile.lua: what report, filter and tree share: opening a span file for
-- a command with one-line errors, the check for an empty or unreadable
-- file, the --where expression, and the notes about skipped lines, failed
-- expressions and several processes. (Not a command itself: no `run`.)

local processes = require("spanline.cli.processes")
local query = require("spanline.query")

local spanfile = {}

-- Opens path ("-" = stdin) as a records query. opts.pid keeps the records
-- of that process only (query.open's pid). Returns q, or nil and a
-- one-line message.
function spanfile.open(path, opts)
  opts = opts or {}
  local q, msg = query.open(path, { raw = opts.raw, max_line = opts.max_line, pid = opts.pid })
  if not q then
    msg = tostring(msg)
    if not msg:find(path, 1, true) then msg = path .. ": " .. msg end
    return nil, "cannot read " .. msg
  end
  q.source.path = path
  return q
end

-- After reading: an error message for an empty or unreadable-as-spans file.
function spanfile.check(q)
  if q:records_read() > 0 then return nil end
  local path = q.source.path
  local bad, lines = q:bad_lines()
  if bad > 0 then
    return string.format("%s: no span records (%d bad line%s, first at line %d)",
      path, bad, bad == 1 and "" or "s", lines[1] or 0)
  end
  return path .. ": empty file (no span records)"
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

-- "FILE holds N processes ...: --pid N selects one" after a pass that kept
-- every process (nil when one process wrote it, or with --pid).
function spanfile.processes_note(q, pid)
  if pid then return nil end
  return processes.note(q.source.path, q:processes())
end

-- The span fields a command reads: its own plus the expression's.
function spanfile.fields(own, expr)
  local fields, seen = {}, {}
  for _, list in ipairs({ own, expr and query.expr_fields(expr) or {} }) do
    for _, f in ipairs(list) do
      if not seen[f] then
        seen[f] = true
        fields[#fields + 1] = f
      end
    end
  end
  return fields
end

return spanfile
