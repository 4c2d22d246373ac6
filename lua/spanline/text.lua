-- text.lua: the one place text is made for people: durations, strings
-- made safe to print on a terminal, and the "did you mean" guess for a
-- mistyped name. Used by report, tree, the viewer and every command that
-- prints span names or error messages.
--
-- Key idea: one formatter per kind of value, so `tree`, `report` and the
-- viewer can never disagree (they once printed 9.996 ms as 10.0ms and
-- 10.00ms).

local text = {}

local function significant(v, unit)
  if v < 9.995 then return string.format("%.2f%s", v, unit) end
  if v < 99.95 then return string.format("%.1f%s", v, unit) end
  return string.format("%.0f%s", v, unit)
end

-- Human-readable duration from nanoseconds (integer or float): 950ns,
-- 12.3us, 4.50ms, 1.25s, 3m05s, 2h01m; three significant digits, fixed
-- suffixes so columns align. nil gives `missing` (default "-"). A negative
-- duration can only come from nonsense records (an end before its start)
-- and says so: "negative", never a number that looks real.
function text.duration(ns, missing)
  if ns == nil then return missing or "-" end
  if ns ~= ns then return "?" end
  if ns < 0 then return "negative" end
  if ns >= 2^63 then return ">292y" end
  ns = math.floor(ns + 0.5)
  if ns < 1000 then return string.format("%dns", ns) end
  if ns < 999500 then return significant(ns / 1e3, "us") end
  if ns < 999500000 then return significant(ns / 1e6, "ms") end
  if ns < 59999500000 then return significant(ns / 1e9, "s") end
  local s = (ns + 500000000) // 1000000000
  if s < 3600 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%dh%02dm", s // 3600, (s % 3600) // 60)
end

-- Timestamps no clock gives: an end before the start, or a time at or past
-- 2^63 ns (year 2262), which a reader hands over as a negative integer.
function text.bad_times(s)
  return (s.dur ~= nil and s.dur < 0) or (s.start ~= nil and s.start < 0)
    or (s.finish ~= nil and s.finish < 0)
end

-- The length of the UTF-8 sequence at byte i of s when it is valid, else
-- -(the bytes of its maximal subpart), at least 1 (Unicode's rule for
-- replacement: a sequence cut short is one bad unit, as the core counts).
local function sequence_at(s, i)
  local b = s:byte(i)
  if b < 0x80 then return 1 end
  local n, lo, hi
  if b >= 0xC2 and b <= 0xDF then n, lo, hi = 2, 0x80, 0xBF
  elseif b == 0xE0 then n, lo, hi = 3, 0xA0, 0xBF
  elseif b == 0xED then n, lo, hi = 3, 0x80, 0x9F
  elseif b >= 0xE1 and b <= 0xEF then n, lo, hi = 3, 0x80, 0xBF
  elseif b == 0xF0 then n, lo, hi = 4, 0x90, 0xBF
  elseif b == 0xF4 then n, lo, hi = 4, 0x80, 0x8F
  elseif b >= 0xF1 and b <= 0xF3 then n, lo, hi = 4, 0x80, 0xBF
  else return -1 end
  for k = 1, n - 1 do
    local c = s:byte(i + k)
    if not c or c < lo or c > hi then return -k end
    lo, hi = 0x80, 0xBF
  end
  return n
end

-- s as valid UTF-8: the valid sequences kept, each bad unit (a stray
-- byte, or a sequence cut short) replaced by `with`, once, as the core's
-- writers replace it with U+FFFD.
local function valid_utf8(s, with)
  if utf8.len(s) then return s end
  local out, i, n, from = {}, 1, #s, 1
  while i <= n do
    local len = sequence_at(s, i)
    if len > 0 then
      i = i + len
    else
      out[#out + 1] = s:sub(from, i - 1)
      out[#out + 1] = with
      i = i - len
      from = i
    end
  end
  out[#out + 1] = s:sub(from)
  return table.concat(out)
end

-- Makes text safe to draw on a terminal: control characters (they would
-- move the cursor, set the title, clear the screen) and bytes of invalid
-- UTF-8 become '?'.
function text.clean(s)
  if s:find("[%c\127]") then s = s:gsub("[%c\127]", "?") end
  return valid_utf8(s, "?")
end

-- Levenshtein distance between two strings (bytes).
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- The candidate a mistyped word most likely meant: one it is a prefix of,
-- or the nearest at most two edits away and no more than half the word
-- (first in the list on a tie); nil when none is that close.
function text.suggest(word, candidates)
  local best, best_d
  local most = math.min(2, #word // 2)
  for _, cand in ipairs(candidates) do
    local d = cand:sub(1, #word) == word and 0 or distance(word, cand)
    if d <= most and (not best_d or d < best_d) then best, best_d = cand, d end
  end
  return best
end

return text
