-- spanfile.lua: what report, filter, tree and export share: opening a span
-- file for a command with one-line errors (and progress on a terminal),
-- the check for a file without span records, the --where expression, and
-- the notes about skipped lines, failed expressions and several processes.
-- (Not a command itself: no `run`.)

local processes = require("spanline.cli.processes")
local progress = require("spanline.cli.progress")
local query = require("spanline.query")

local spanfile = {}

-- "cannot open PATH: reason" for a reader's error (whose message may
-- start with the path already).
function spanfile.open_error(path, msg)
  msg = tostring(msg)
  if msg:sub(1, #path + 2) == path .. ": " then msg = msg:sub(#path + 3) end
  return "cannot open " .. path .. ": " .. msg
end

-- Opens path ("-" = stdin) as a records query. opts.pid keeps the records
-- of that process only (query.open's pid); opts.prints_at_end: the command
-- writes its output only after reading (progress may show while stdout is
-- a terminal, see cli/progress.lua). Returns q, or nil and a one-line
-- message.
function spanfile.open(path, opts)
  opts = opts or {}
  local q, msg = query.open(path, { raw = opts.raw, max_line = opts.max_line, pid = opts.pid })
  if not q then return nil, spanfile.open_error(path, msg) end
  q.source.path = path
  q.source.stop_progress = progress.start(path, "reading " .. path .. ": ", not opts.prints_at_end)
  return q
end

-- The problem with a stream that held no span records (nothing but meta
-- records, or nothing at all: the same answer), or nil. span_records:
-- records that are not meta records; bad, lines: the reader's bad lines.
function spanfile.no_spans(path, span_records, bad, lines)
  if span_records > 0 then return nil end
  if bad > 0 then
    return string.format("%s: no span records (%d bad line%s, first at line %d)",
      path, bad, bad == 1 and "" or "s", lines[1] or 0)
  end
  return path .. ": no span records"
end

-- After reading (the progress line goes): an error message for a file
-- without span records, or nil.
function spanfile.check(q)
  if q.source.stop_progress then q.source.stop_progress() end
  local asm = q.source.assembler
  local st = asm and asm:stats() or { records = 0, metas = 0 }
  return spanfile.no_spans(q.source.path, st.records - st.metas, q:bad_lines())
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

-- What a command says on stderr after reading (each a line, without the
-- command's name): the bad lines skipped, second start/end records for
-- one span id (ignored), parent links cut because they closed a cycle.
function spanfile.input_notes(q)
  local notes = {}
  notes[#notes + 1] = spanfile.bad_note(q)
  local dup = q:duplicates()
  if dup > 0 then
    notes[#notes + 1] = string.format("%d duplicate record%s ignored (a second start or end for one span id)",
      dup, dup == 1 and "" or "s")
  end
  local cycles = q:cycles()
  if cycles > 0 then
    notes[#notes + 1] = string.format("%d parent cycle%s cut", cycles, cycles == 1 and "" or "s")
  end
  return notes
end

-- What a command says of the n spans (or traces: noun) of a file's tail it
-- did not use (done: "left out", "not shown"), or nil when there are none.
function spanfile.ends_only_note(n, noun, done)
  if n == 0 then return nil end
  return string.format("%d %s%s without a start record %s (%s before the file begins)",
    n, noun, n == 1 and "" or "s", done, n == 1 and "it started" or "they started")
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
