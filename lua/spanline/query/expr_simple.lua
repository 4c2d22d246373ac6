-- expr_simple.lua: a --where expression simple enough to judge in C
-- (core.where_program, bindings/lua/lwhere.c): span fields compared with
-- literals, substring and prefix tests, joined by and, or, not, in parentheses:
--   status == "error" and name == "db.query"
--   dur >= 5ms and not (lane == 3 or error) and name:find("db")
--   name:match("^handler")
--
-- Key idea: the tree is built only when it means exactly what Lua makes of
-- the expression (same precedence: `not` binds tighter than `==`; integer
-- literals only, after duration units; plain quoted strings); anything
-- else (another call, a pattern, arithmetic, a float, an escape, a
-- chained comparison)
-- gives nil and the expression runs as Lua only. Where Lua would raise
-- (`dur > 5ms` on an open span), the program answers "unknown" and the
-- Lua expression runs for that span.

local core = require("spanline.core")
local expr = require("spanline.query.expr")

local simple = {}

-- Fields the C side reads (lwhere.c), and which hold integers (or nil).
local INT = { start = true, finish = true, dur = true, lane = true, depth = true, self = true, line = true }
local STR = { name = true, status = true, error = true }
local FLAG = { orphan = true, remote_parent = true }
local REL = { ["=="] = true, ["~="] = true, ["<"] = true, ["<="] = true, [">"] = true, [">="] = true }
local FLIP = { ["=="] = "==", ["~="] = "~=", ["<"] = ">", ["<="] = ">=", [">"] = "<", [">="] = "<=" }

-- The literal a token stands for: kind ("int" | "str" | "nil") and value,
-- or nil when it is not one the C side reads the same way.
local function literal(t)
  if t.kind == "number" and t.text:match("^%d+$") then
    local v = math.tointeger(tonumber(t.text))   -- past 2^63 Lua reads a float: not taken
    if v then return "int", v end
  elseif t.kind == "string" then
    local s = t.text:match('^"([^"\\\n]*)"$') or t.text:match("^'([^'\\\n]*)'$")
    if s then return "str", s end
  elseif t.kind == "keyword" and t.text == "nil" then
    return "nil", nil
  end
  return nil
end

local function field_of(t)
  if t.kind == "name" and (INT[t.text] or STR[t.text] or FLAG[t.text]) then return t.text end
  return nil
end

-- Recursive descent over the tokens (spaces and comments dropped); each
-- function returns a node and the next position, or nil.
local parse_or

local function parse_primary(toks, i)
  local t = toks[i]
  if not t then return nil end
  if t.text == "(" then
    local n, j = parse_or(toks, i + 1)
    if not n or not toks[j] or toks[j].text ~= ")" then return nil end
    return { op = "group", n }, j + 1
  end
  if field_of(t) then
    -- field:find("text") or :match("text"), text without pattern
    -- characters but a leading ^: a substring (prefix) test, as true or
    -- false as what find or match returns
    local m, f, open, lit, close = toks[i + 1], toks[i + 2], toks[i + 3], toks[i + 4], toks[i + 5]
    if m and m.text == ":" then
      if not (STR[t.text] and f and (f.text == "find" or f.text == "match") and open and open.text == "("
          and lit and close and close.text == ")") then
        return nil
      end
      local kind, v = literal(lit)
      if kind ~= "str" then return nil end
      local anchored = v:sub(1, 1) == "^"
      if anchored then v = v:sub(2) end
      if v:find("[%^%$%*%+%?%.%(%[%%%-]") then return nil end
      return { op = "find", field = t.text, value = v, anchored = anchored }, i + 6
    end
    return { op = "field", field = t.text }, i + 1
  end
  local kind, v = literal(t)
  if kind then return { op = "lit", kind = kind, value = v }, i + 1 end
  return nil
end

local function parse_unary(toks, i)
  local t = toks[i]
  if t and t.text == "not" then
    local n, j = parse_unary(toks, i + 1)
    if not n then return nil end
    return { op = "not", n }, j
  end
  return parse_primary(toks, i)
end

-- A comparison's operands are one field and one literal; anything else
-- compared is left to Lua.
local function comparison(a, rel, b)
  if a.op == "lit" and b.op == "field" then a, b, rel = b, a, FLIP[rel] end
  if a.op ~= "field" or b.op ~= "lit" or FLAG[a.field] then return nil end
  if rel ~= "==" and rel ~= "~=" and not (INT[a.field] and b.kind == "int") then return nil end
  return { op = "cmp", field = a.field, rel = rel, value = b.value }
end

local function parse_cmp(toks, i)
  local a, j = parse_unary(toks, i)
  if not a then return nil end
  local t = toks[j]
  if not (t and REL[t.text]) then return a, j end
  local b, k = parse_unary(toks, j + 1)
  if not b then return nil end
  if toks[k] and REL[toks[k].text] then return nil end   -- a < b < c
  local n = comparison(a, t.text, b)
  if not n then return nil end
  return n, k
end

local function parse_chain(toks, i, word, sub)
  local a, j = sub(toks, i)
  while a and toks[j] and toks[j].text == word do
    local b, k = sub(toks, j + 1)
    if not b then return nil end
    a, j = { op = word, a, b }, k
  end
  return a, j
end

local function parse_and(toks, i) return parse_chain(toks, i, "and", parse_cmp) end
parse_or = function(toks, i) return parse_chain(toks, i, "or", parse_and) end

-- The tree in the form core.where_program takes: groups gone, bare fields
-- as truth tests; nil when a literal stands where a truth is asked.
local function lower(n)
  if n.op == "group" then return lower(n[1]) end
  if n.op == "field" then return { op = "truth", field = n.field } end
  if n.op == "lit" then return nil end
  if n.op == "cmp" or n.op == "find" then return n end
  local a = lower(n[1])
  local b = n[2] and lower(n[2])
  if not a or (n[2] and not b) then return nil end
  return { op = n.op, a, b }
end

-- The tree of an expression (after duration units), or nil.
function simple.tree(text)
  local toks = {}
  for _, t in ipairs(expr.tokens(expr.rewrite_units(text))) do
    if t.kind ~= "space" and t.kind ~= "comment" then toks[#toks + 1] = t end
  end
  local n, j = parse_or(toks, 1)
  if not n or j ~= #toks + 1 then return nil end
  return lower(n)
end

local function literal_bytes(n)
  if n.op == "cmp" or n.op == "find" then return type(n.value) == "string" and #n.value or 0 end
  local total = 0
  for _, k in ipairs(n) do total = total + literal_bytes(k) end
  return total
end

local function count_nodes(n)
  local total = 1
  for _, k in ipairs(n) do total = total + count_nodes(k) end
  return total
end

-- The C program for an expression, or nil (the expression runs as Lua).
function simple.program(text)
  local tree = simple.tree(text)
  if not tree or count_nodes(tree) > 64 then return nil end
  return core.where_program(tree, literal_bytes(tree))
end

return simple
