-- fuzz/gen.lua: seeded random sources and generator combinators.
--
-- Key idea (the one Hypothesis uses): a generator never calls a PRNG directly;
-- it draws small unsigned integers from a Source, which records every choice.
-- Replaying an edited choice list regenerates a value, so shrinking works on
-- the choices (delete a chunk, lower a number) and every shrunk value is one
-- the generator could have produced: combinators and stateful generators
-- (span programs) shrink for free. Smaller choices always mean simpler values.

local gen = {}

-- ===== PRNG: splitmix64 in Lua's wrapping 64-bit integers =====

local GOLDEN = -7046029254386353131 -- 0x9E3779B97F4A7C15

local function mix64(z)
  z = (z ~ (z >> 30)) * -4658895280553007687 -- 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * -7723592293110705685 -- 0x94D049BB133111EB
  return z ~ (z >> 31)
end
gen.mix64 = mix64

local Rng = {}
Rng.__index = Rng

function gen.rng(seed)
  return setmetatable({ s = mix64(math.tointeger(seed) or 0) }, Rng)
end

function Rng:next()
  self.s = self.s + GOLDEN
  return mix64(self.s)
end

-- Uniform in [0, n] where n is read as unsigned: mask and reject (unbiased).
function Rng:below_or_eq(n)
  if n == 0 then return 0 end
  local mask = n
  mask = mask | (mask >> 1); mask = mask | (mask >> 2); mask = mask | (mask >> 4)
  mask = mask | (mask >> 8); mask = mask | (mask >> 16); mask = mask | (mask >> 32)
  while true do
    local v = self:next() & mask
    if not math.ult(n, v) then return v end
  end
end

-- ===== Source: recorded (or replayed) choices =====

local Source = {}
Source.__index = Source

local OVERRUN = setmetatable({}, { __tostring = function() return "fuzz: choice budget exhausted" end })
gen.OVERRUN = OVERRUN

-- opts: rng (fresh draws) or replay (a choice list; exhausted -> 0), limit.
function gen.source(opts)
  return setmetatable({
    rng = opts.rng, replay = opts.replay, limit = opts.limit or 100000,
    choices = {}, n = 0, spans = {}, depth = 0,
  }, Source)
end

-- An unsigned integer in [0, n]. Replayed values above n are clamped so an
-- edited choice list always stays valid.
function Source:draw(n)
  local i = self.n + 1
  if i > self.limit then error(OVERRUN, 0) end
  local v
  if self.replay then
    v = self.replay[i] or 0
    if math.ult(n, v) then v = n end
  else
    v = self.rng:below_or_eq(n)
  end
  self.n = i
  self.choices[i] = v
  return v
end

-- Marks the choices one generated sub-value used, so the shrinker can delete
-- or simplify exactly that sub-value (a list element, an operation).
function Source:mark_start() return self.n + 1 end
function Source:mark_stop(first)
  if self.n >= first then self.spans[#self.spans + 1] = { first, self.n } end
end

-- ===== generators =====

local Gen = {}
Gen.__index = Gen
gen.Gen = Gen

-- A generator wraps fn(src, size) -> value.
function gen.new(fn, label)
  return setmetatable({ fn = fn, label = label }, Gen)
end

function gen.is_gen(x) return getmetatable(x) == Gen end

-- Draws a value from g, recording which choices it used.
function gen.draw(src, g, size)
  local first = src:mark_start()
  local v = g.fn(src, size)
  src:mark_stop(first)
  return v
end
local draw = gen.draw

function Gen:generate(src, size) return draw(src, self, size) end

function Gen:map(f)
  local g = self
  return gen.new(function(src, size) return f(draw(src, g, size)) end)
end

-- Monadic bind: the next generator depends on the drawn value.
function Gen:bind(f)
  local g = self
  return gen.new(function(src, size) return draw(src, f(draw(src, g, size)), size) end)
end

-- Keeps values satisfying pred; gives up (an error) after 100 tries.
function Gen:filter(pred)
  local g = self
  return gen.new(function(src, size)
    for _ = 1, 100 do
      local v = draw(src, g, size)
      if pred(v) then return v end
    end
    error("fuzz: filter rejected 100 values in a row", 0)
  end)
end

function gen.constant(v) return gen.new(function() return v end) end

function gen.boolean()
  return gen.new(function(src) return src:draw(1) == 1 end)
end

-- Integers in [min, max]; shrink towards 0 (or the bound nearest 0).
-- Without bounds the range grows with the size.
function gen.integer(min, max)
  return gen.new(function(src, size)
    local lo, hi = min, max
    if lo == nil then lo = -size * size - 1 end
    if hi == nil then hi = size * size + 1 end
    if lo > hi then error("fuzz.gen.integer: min > max", 0) end
    if lo >= 0 then return lo + src:draw(hi - lo) end
    if hi <= 0 then return hi - src:draw(hi - lo) end
    -- both signs: magnitude first (shrinks to 0), then sign (shrinks to +)
    local neg = src:draw(1) == 1
    if neg then return -src:draw(-(lo + 1)) - 1 end
    return src:draw(hi)
  end)
end

local SPECIAL_FLOATS = { 0.0, 1.0, -1.0, 0.5, -0.0, 1e300, -1e300, 5e-324, 2.0 ^ 53, 2.0 ^ 53 + 2,
  math.huge, -math.huge, 0.0 / 0.0 }

-- Floats: a special value (NaN, infinities, -0, huge, denormal) or a random
-- one built from a mantissa and an exponent; shrink towards 0.
function gen.float(opts)
  opts = opts or {}
  local finite = opts.finite
  return gen.new(function(src, size)
    local kind = src:draw(3)
    if kind == 0 then return 0.0 end
    if kind == 1 then
      local n = finite and #SPECIAL_FLOATS - 3 or #SPECIAL_FLOATS
      return SPECIAL_FLOATS[1 + src:draw(n - 1)]
    end
    local mant = src:draw((1 << 53) - 1)
    local exp = src:draw(2 * math.min(1000, size + 20)) - math.min(1000, size + 20)
    local v = mant * 2.0 ^ (exp - 52)
    if src:draw(1) == 1 then v = -v end
    return v
  end)
end

-- Picks one of several generators (shrinks towards the first).
function gen.one_of(list)
  assert(#list > 0, "fuzz.gen.one_of: empty list")
  return gen.new(function(src, size)
    local g = list[1 + src:draw(#list - 1)]
    if gen.is_gen(g) then return draw(src, g, size) end
    return g
  end)
end

-- { {weight, gen}, ... }: weighted choice (shrinks towards the first entry).
function gen.frequency(list)
  local total = 0
  for _, e in ipairs(list) do total = total + e[1] end
  assert(total > 0, "fuzz.gen.frequency: weights sum to 0")
  return gen.new(function(src, size)
    local r = src:draw(total - 1)
    for _, e in ipairs(list) do
      if r < e[1] then
        if gen.is_gen(e[2]) then return draw(src, e[2], size) end
        return e[2]
      end
      r = r - e[1]
    end
  end)
end

-- A "keep going?" choice for collections: 0 (stop) is the simplest answer, so
-- deleting an element's choices or zeroing the flag shortens the collection.
local function more(src, count, min, max, avg)
  if count < min then return true end
  if count >= max then return false end
  return src:draw(avg) ~= 0
end
gen.more = more

-- Lists of g: opts.min, opts.max (default: size), average length ~ size/2.
function gen.list(g, opts)
  opts = opts or {}
  return gen.new(function(src, size)
    local out = {}
    local max = opts.max or math.max(opts.min or 0, size)
    local avg = math.max(1, math.min(max, size) // 2)
    while true do
      local first = src:mark_start()
      if not more(src, #out, opts.min or 0, max, avg) then break end
      out[#out + 1] = draw(src, g, size)
      src:mark_stop(first)
    end
    return out
  end)
end

-- Fixed-shape tables: gen.tuple{g1, g2} -> {v1, v2}; gen.record{a = g} -> {a = v}.
function gen.tuple(list)
  return gen.new(function(src, size)
    local out = {}
    for i, g in ipairs(list) do out[i] = draw(src, g, size) end
    return out
  end)
end

function gen.record(fields)
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return gen.new(function(src, size)
    local out = {}
    for _, k in ipairs(keys) do out[k] = draw(src, fields[k], size) end
    return out
  end)
end

-- Tables with keys from kg and values from vg (duplicate keys collapse).
function gen.table(kg, vg, opts)
  local pairs_gen = gen.list(gen.tuple{ kg, vg }, opts)
  return gen.new(function(src, size)
    local out = {}
    for _, kv in ipairs(draw(src, pairs_gen, size)) do
      if kv[1] ~= nil and kv[1] == kv[1] then out[kv[1]] = kv[2] end
    end
    return out
  end)
end

-- ===== strings =====

local LETTERS = "abcdefghijklmnopqrstuvwxyz"
local PUNCT = "\"\\/'{}[]:,. \t\n\r%$#@!?<>=-_+*&|~^`;()"
local UTF8_SAMPLES = { "é", "ß", "€", "中", "😀", "\u{2028}", "\u{FEFF}", "\u{10FFFF}", "\u{FFFD}" }
local INVALID_SAMPLES = { "\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\x80", "\xf8\x88\x80\x80\x80",
  "\xf4\x90\x80\x80", "\xc3" }

-- One "character" (1 to 5 bytes). Class 0 is plain letters so strings shrink
-- to "aaa"; the hostile classes are the point of the generator.
local function hostile_char(src)
  local class = src:draw(6)
  if class == 0 then
    local i = src:draw(#LETTERS - 1) + 1
    return LETTERS:sub(i, i)
  elseif class == 1 then
    local i = src:draw(#PUNCT - 1) + 1
    return PUNCT:sub(i, i)
  elseif class == 2 then
    local b = src:draw(32)
    return string.char(b == 32 and 127 or b) -- control characters, NUL and DEL
  elseif class == 3 then
    return UTF8_SAMPLES[src:draw(#UTF8_SAMPLES - 1) + 1]
  elseif class == 4 then
    return utf8.char(src:draw(0x10FFFF - 0x80) + 0x80) -- surrogates too: invalid UTF-8
  elseif class == 5 then
    return INVALID_SAMPLES[src:draw(#INVALID_SAMPLES - 1) + 1]
  else
    return string.char(src:draw(255)) -- any byte
  end
end

local function letter(src)
  local i = src:draw(#LETTERS - 1) + 1
  return LETTERS:sub(i, i)
end

-- Strings. opts.min, opts.max (bytes-ish: characters), opts.alphabet:
-- "hostile" (default: quotes, control characters, valid and invalid UTF-8,
-- raw bytes), "ascii" (letters only); opts.long: sometimes a very long string
-- (up to opts.long bytes) made by repeating a short one.
function gen.string(opts)
  opts = opts or {}
  local charf = opts.alphabet == "ascii" and letter or hostile_char
  return gen.new(function(src, size)
    local max = opts.max or math.max(opts.min or 0, size)
    local avg = math.max(1, math.min(max, size) // 2)
    local parts = {}
    while true do
      local first = src:mark_start()
      if not more(src, #parts, opts.min or 0, max, avg) then break end
      parts[#parts + 1] = charf(src)
      src:mark_stop(first)
    end
    local s = table.concat(parts)
    if opts.long and #s > 0 and src:draw(15) == 15 then
      s = s:rep(1 + src:draw(opts.long // #s))
    end
    return s
  end)
end

-- Scalars of every kind a span attribute may hold.
function gen.scalar()
  return gen.one_of{ gen.integer(), gen.string(), gen.boolean(), gen.float(),
    gen.integer(math.mininteger, math.maxinteger) }
end

return gen
