-- fuzz/shrink.lua: shrinks a failing choice list to a minimal one.
--
-- Key idea: a candidate is better when its choice list is shorter, or as long
-- and lexicographically smaller (shortlex), so every accepted step makes
-- progress and shrinking always ends. Passes, repeated until none helps:
-- delete each marked sub-value (a list element, an operation), delete small
-- chunks, zero sub-values, then lower single choices (binary search).

local shrink = {}

local function shortlex_less(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    if a[i] ~= b[i] then return math.ult(a[i], b[i]) end
  end
  return false
end

local function copy_without(t, i, j)
  local out = {}
  for k = 1, i - 1 do out[#out + 1] = t[k] end
  for k = j + 1, #t do out[#out + 1] = t[k] end
  return out
end

-- run(choices) -> result table { failed = bool, choices = recorded, spans = ... }
-- or nil when the candidate did not even generate. best: the failing result.
-- Returns the best result and the number of accepted shrink steps.
function shrink.run(best, run, opts)
  local budget = (opts and opts.max_shrinks) or 5000
  local attempts, steps = 0, 0

  local function try(candidate)
    if attempts >= budget then return false end
    if not shortlex_less(candidate, best.choices) then return false end
    attempts = attempts + 1
    local r = run(candidate)
    if r and r.failed and shortlex_less(r.choices, best.choices) then
      best = r
      steps = steps + 1
      return true
    end
    return false
  end

  local function sorted_spans()
    -- larger sub-values first: deleting a whole subtree beats its parts
    local spans = {}
    for i, s in ipairs(best.spans) do spans[i] = s end
    table.sort(spans, function(a, b)
      local la, lb = a[2] - a[1], b[2] - b[1]
      if la ~= lb then return la > lb end
      return a[1] < b[1]
    end)
    return spans
  end

  local function delete_spans()
    local improved = false
    local i = 1
    local spans = sorted_spans()
    while i <= #spans and attempts < budget do
      local s = spans[i]
      if s[2] <= #best.choices and try(copy_without(best.choices, s[1], s[2])) then
        improved = true
        spans = sorted_spans()
        i = 1
      else
        i = i + 1
      end
    end
    return improved
  end

  local function delete_chunks()
    local improved = false
    for k = 4, 1, -1 do
      local i = #best.choices - k + 1
      while i >= 1 and attempts < budget do
        if try(copy_without(best.choices, i, i + k - 1)) then improved = true end
        i = math.min(i - 1, #best.choices - k + 1)
      end
    end
    return improved
  end

  local function zero_spans()
    local improved = false
    for _, s in ipairs(sorted_spans()) do
      if attempts >= budget then break end
      if s[2] <= #best.choices then
        local c = table.move(best.choices, 1, #best.choices, 1, {})
        local any = false
        for k = s[1], s[2] do
          if c[k] ~= 0 then c[k] = 0; any = true end
        end
        if any and try(c) then improved = true end
      end
    end
    return improved
  end

  local function lower_choices()
    local improved = false
    for i = 1, #best.choices do
      if attempts >= budget then break end
      local v = best.choices[i]
      if v and v ~= 0 then
        local c = table.move(best.choices, 1, #best.choices, 1, {})
        c[i] = 0
        if try(c) then
          improved = true
        else
          -- binary search for the smallest value that still fails (values
          -- are unsigned: lo + (hi - lo) >> 1 cannot overflow)
          local lo, hi = 0, best.choices[i]
          while hi and math.ult(lo + 1, hi) and attempts < budget do
            local mid = lo + ((hi - lo) >> 1)
            c = table.move(best.choices, 1, #best.choices, 1, {})
            c[i] = mid
            if try(c) then
              improved = true
              hi = best.choices[i]
            else
              lo = mid
            end
          end
        end
      end
    end
    return improved
  end

  repeat
    local improved = false
    if delete_spans() then improved = true end
    if delete_chunks() then improved = true end
    if zero_spans() then improved = true end
    if lower_choices() then improved = true end
  until not improved or attempts >= budget
  return best, steps, attempts
end

shrink.shortlex_less = shortlex_less

return shrink
