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
-- for long inside string.find is C code: it ends when it returns.)

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

local UNIT_NS = { ns = 1, us = 1000, ms = 1000000, s = 1000000000, m = 60000000000, h = 3600000000000 }

-- Rewrites duration literals (5ms, 1.5s, 250us) to integer nanoseconds,
-- leaving string literals alone.
function expr.rewrite_units(text)
  local out, i, n = {}, 1, #text
  while i <= n do
    local c = text:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= n and text:sub(j, j) ~= c do
        if text:sub(j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      out[#out + 1] = text:sub(i, j)
      i = j + 1
    elseif c:match("[%a_]") then
      local word = text:match("^[%w_]+", i)
      out[#out + 1] = word
      i = i + #word
    elseif c:match("%d") or (c == "." and text:sub(i + 1, i + 1):match("%d")) then
      local num, unit = text:match("^([%d%.]+)(%a*)", i)
      local scale = UNIT_NS[unit]
      if scale and tonumber(num) and not text:sub(i):match("^0[xX]") then
        out[#out + 1] = string.format("%d", math.floor(tonumber(num) * scale + 0.5))
        i = i + #num + #unit
      else
        local tok = text:match("^[%w%.]+", i)
        out[#out + 1] = tok
        i = i + #tok
      end
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

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

-- Compiles a Lua expression over span fields (`dur > 5ms and name:find("db")`)
-- into a predicate, in an environment without os, io, load or require,
-- bounded by expr.limits (over them, it raises expr.is_limit_error objects,
-- on every call from then on). Returns fn, or nil, message, column
-- (1-based) of a syntax error.
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
