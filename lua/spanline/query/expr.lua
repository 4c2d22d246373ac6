-- expr.lua: the --where language: a Lua expression over span fields,
-- with duration literals (5ms, 1.5s), compiled in a sandbox (no os, io,
-- load, require; copies of string, math, table, utf8). Span fields become
-- locals, so an expression costs one table read per field it names.
--
-- Key idea: nothing an expression does reaches the host. Its libraries are
-- fresh copies per expression (assigning string.format changes the copy),
-- without the functions that touch shared state (math.randomseed), and each
-- call runs under a time and a memory budget (core.bounded): an endless
-- loop or a memory-eating expression ends with an error naming the
-- expression, raised as an object with exit = 2 that no caller mistakes
-- for an ordinary failure of one span. (A pattern search that backtracks
-- for long inside string.find is C code: it ends when it returns.) The
-- names an expression reads are checked when it is compiled: one that is
-- neither a span field nor in the sandbox (a mistyped field, which would
-- otherwise match nothing, silently) is refused, naming the fields.

local core = require("spanline.core")

local expr = {}

-- Budgets per call (per span): CPU seconds and bytes allocated. Settable
-- before compiling, and from the environment: SPANLINE_WHERE_CPU (seconds)
-- and SPANLINE_WHERE_MEMORY (MiB).
local function env_number(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v and v > 0 and v or default
end
expr.limits = {
  seconds = env_number("SPANLINE_WHERE_CPU", 1),
  memory = math.floor(env_number("SPANLINE_WHERE_MEMORY", 64) * 1024 * 1024),
}

-- ===== EXPRESSIONS (--where) =====

local FIELDS = { "id", "trace", "parent", "name", "start", "finish", "dur", "status", "error",
  "attrs", "events", "lane", "children", "depth", "self", "orphan", "remote_parent", "line" }
local FIELD_SET = {}
for _, f in ipairs(FIELDS) do FIELD_SET[f] = true end
expr.FIELDS = FIELDS

local function copy(lib, without)
  local t = {}
  for k, v in pairs(lib) do
    if not (without and without[k]) then t[k] = v end
  end
  return t
end

local function sandbox()
  return {
    string = copy(string), math = copy(math, { randomseed = true }), table = copy(table),
    utf8 = copy(utf8),
    tostring = tostring, tonumber = tonumber, type = type, pairs = pairs, ipairs = ipairs,
    select = select, next = next,
  }
end

-- The error an expression over budget raises: a table (so it is never
-- taken for an ordinary error of one span) that prints as its message and
-- carries the command-line exit status.
local LimitError = {}
LimitError.__index = LimitError
LimitError.__tostring = function(e) return e.message end

function expr.is_limit_error(v)
  return getmetatable(v) == LimitError
end

local function limit_error(text, kind)
  local what
  if kind == "time" then
    what = string.format("ran for more than %g s of CPU on one span (an endless loop?)",
      expr.limits.seconds)
  else
    what = string.format("more than %d MiB of memory on one span", expr.limits.memory // (1024 * 1024))
  end
  return setmetatable({ message = string.format("--where '%s' gave up: %s", text, what),
    kind = kind, exit = 2 }, LimitError)
end

-- The span fields an expression names (identifiers that are field names).
function expr.expr_fields(text)
  local code, used, seen = expr.rewrite_units(text), {}, {}
  for word in code:gmatch("[%a_][%w_]*") do
    if FIELD_SET[word] and not seen[word] then
      seen[word] = true
      used[#used + 1] = word
    end
  end
  return used
end

-- ===== TOKENS =====

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

-- The end of a long bracket opened at i ("[[", "[==["), or nil.
local function long_bracket_end(text, i)
  local eqs = text:match("^%[(=*)%[", i)
  if not eqs then return nil end
  local _, e = text:find("]" .. eqs .. "]", i + #eqs + 2, true)
  return e or #text
end

-- The end of the token of the given kind starting at i.
local function token_end(text, i, c)
  if c:match("%s") then return i, "space" end
  if text:sub(i, i + 1) == "--" then
    return (long_bracket_end(text, i + 2) or text:find("\n", i, true) or #text), "comment"
  end
  if c == '"' or c == "'" then
    local j = i + 1
    while j <= #text and text:sub(j, j) ~= c do
      if text:sub(j, j) == "\\" then j = j + 1 end
      j = j + 1
    end
    return math.min(j, #text), "string"
  end
  if c == "[" and long_bracket_end(text, i) then return long_bracket_end(text, i), "string" end
  if c:match("%d") or (c == "." and text:sub(i + 1, i + 1):match("%d")) then
    return i + #text:match("^[%w%.]+", i) - 1, "number"           -- with a unit: 5ms
  end
  if c:match("[%a_]") then
    local word = text:match("^[%w_]+", i)
    return i + #word - 1, KEYWORDS[word] and "keyword" or "name"
  end
  local sym = text:match("^%.%.%.?", i) or text:match("^[=~<>]=", i) or text:match("^::", i) or c
  return i + #sym - 1, "sym"
end

-- The tokens of an expression, every byte in one: { kind, text, col };
-- kinds: space comment string number (duration literals included) name
-- keyword sym.
local function tokens(text)
  local list, i = {}, 1
  while i <= #text do
    local e, kind = token_end(text, i, text:sub(i, i))
    list[#list + 1] = { kind = kind, text = text:sub(i, e), col = i }
    i = e + 1
  end
  return list
end
expr.tokens = tokens

-- ===== DURATION LITERALS =====

local UNIT_NS = { ns = 1, us = 1000, ms = 1000000, s = 1000000000, m = 60000000000, h = 3600000000000 }

-- Rewrites duration literals (5ms, 1.5s, 250us) to integer nanoseconds,
-- leaving strings and comments alone.
function expr.rewrite_units(text)
  local out = {}
  for k, t in ipairs(tokens(text)) do
    local num, unit = t.text:match("^([%d%.]+)(%a+)$")
    if t.kind == "number" and num and UNIT_NS[unit] and tonumber(num) and not t.text:match("^0[xX]") then
      out[k] = string.format("%d", math.floor(tonumber(num) * UNIT_NS[unit] + 0.5))
    else
      out[k] = t.text
    end
  end
  return table.concat(out)
end

-- ===== NAMES AN EXPRESSION READS =====

-- Names the expression declares (function parameters, locals, for
-- variables): they are not free.
local function declared(toks)
  local set = {}
  local function names_from(k, stop)
    while toks[k] and (toks[k].kind == "name" or toks[k].text == "," or toks[k].text == "<"
        or toks[k].text == ">") and toks[k].text ~= stop do
      if toks[k].kind == "name" then set[toks[k].text] = true end
      k = k + 1
    end
  end
  for k, t in ipairs(toks) do
    if t.text == "function" then
      local p = k + 1
      while toks[p] and toks[p].text ~= "(" do p = p + 1 end
      names_from(p + 1)
    elseif t.text == "local" or t.text == "for" then
      names_from(k + 1)
    end
  end
  return set
end

-- The free names an expression reads ({ name, col }, each once, in order):
-- not fields after "." or ":", not table keys or assignments ("k ="),
-- not keywords, not names it declares.
local function free_names(text)
  local toks = {}
  for _, t in ipairs(tokens(text)) do
    if t.kind ~= "space" and t.kind ~= "comment" then toks[#toks + 1] = t end
  end
  local decl, seen, out = declared(toks), {}, {}
  for k, t in ipairs(toks) do
    local prev, nxt = toks[k - 1], toks[k + 1]
    local field = prev and (prev.text == "." or prev.text == ":" or prev.text == "goto" or prev.text == "::")
    local key = nxt and nxt.text == "="
    if t.kind == "name" and not field and not key and not decl[t.text] and not seen[t.text] then
      seen[t.text] = true
      out[#out + 1] = { name = t.text, col = t.col }
    end
  end
  return out
end

-- The names an expression may read besides span fields: its sandbox's
-- (filled below, from sandbox()).
local SANDBOX_NAMES, SANDBOX_LIST = {}, {}

-- A free name that is neither a span field nor in the sandbox, as an
-- error message and its column; nil when every name is known.
function expr.unknown_name(text)
  for _, u in ipairs(free_names(text)) do
    if not FIELD_SET[u.name] and not SANDBOX_NAMES[u.name] then
      local fields = table.concat(FIELDS, " ")
      if _G[u.name] ~= nil then
        return string.format("'%s' is not available in an expression; span fields: %s; also: %s",
          u.name, fields, table.concat(SANDBOX_LIST, " ")), u.col
      end
      local guess = require("spanline.text").suggest(u.name, FIELDS)
      return string.format("unknown field '%s'%s; span fields: %s", u.name,
        guess and (" (did you mean '" .. guess .. "'?)") or "", fields), u.col
    end
  end
  return nil
end

for name in pairs(sandbox()) do
  SANDBOX_NAMES[name] = true
  SANDBOX_LIST[#SANDBOX_LIST + 1] = name
end
table.sort(SANDBOX_LIST)

-- Compiles a Lua expression over span fields (`dur > 5ms and name:find("db")`)
-- into a predicate, in an environment without os, io, load or require,
-- bounded by expr.limits (over them, it raises expr.is_limit_error objects,
-- on every call from then on). Returns fn, or nil, message, column
-- (1-based) of a syntax error or of a name that is neither a span field
-- nor in the sandbox (a mistyped field: "durr > 5ms").
function expr.compile_where(text)
  if type(text) ~= "string" then
    error("bad argument #1 to 'compile_where' (string expected, got " .. type(text) .. ")", 2)
  end
  local code = expr.rewrite_units(text)
  local ok_chunk, err = load("return (" .. code .. "\n)", "=expr", "t", {})
  if not ok_chunk then
    local msg = tostring(err):gsub("^expr:%d+: ", "")
    local near = msg:match("near '(.-)'$")
    local col
    if near then col = text:find(near, 1, true) end
    if not col then col = #text + 1 end
    return nil, msg, col
  end
  local unknown, ucol = expr.unknown_name(text)
  if unknown then return nil, unknown, ucol end
  local used = {}
  for word in code:gmatch("[%a_][%w_]*") do
    if FIELD_SET[word] and not used[word] then
      used[word] = true
      used[#used + 1] = word
    end
  end
  -- A chunk returning a function of one argument (a vararg chunk costs a
  -- third more per call).
  local src
  if #used > 0 then
    local gets = {}
    for i, f in ipairs(used) do gets[i] = "s." .. f end
    src = "return function(s)\nlocal " .. table.concat(used, ", ") .. " = " .. table.concat(gets, ", ") ..
      "\nreturn (" .. code .. "\n)\nend"
  else
    src = "return function()\nreturn (" .. code .. "\n)\nend"
  end
  local chunk, err2 = load(src, "=expr", "t", sandbox())
  if not chunk then return nil, tostring(err2):gsub("^expr:%d+: ", ""), 1 end
  return core.bounded(chunk(), expr.limits.seconds, expr.limits.memory,
    function(kind) return limit_error(text, kind) end)
end

return expr
