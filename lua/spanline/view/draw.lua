-- draw.lua: one row of either view as styled text, the same for the plain
-- printer and the interactive screen.
--
-- A line is a flat list { text, style, text, style, ... } exactly `width`
-- columns wide; styles are names ("err", "open", "match", ...) that the
-- screen maps to colours and the plain printer ignores.

local fmt = require("spanline.view.fmt")
local MAX_GUIDES = require("spanline.tree_text").MAX_GUIDES

local draw = {}

local DUR_W, STATUS_W, OFFSET_W, LANE_W = 9, 16, 11, 4

-- Appends one styled piece ("n" is the plain style).
local function push(out, text, style)
  local n = #out
  out[n + 1] = text
  out[n + 2] = style or "n"
end

local function layout(width, extra)
  local bar = width // 5
  if bar > 40 then bar = 40 end
  local name = width - extra - DUR_W - STATUS_W - bar - 3
  if name < 24 then
    bar = 0
    name = width - extra - DUR_W - STATUS_W - 2
  end
  if name < 4 then name = 4 end
  return name, bar
end

local function status_text(s)
  local st = s.status or "open"
  if st == "ok" then return "ok", nil end
  if st == "error" then
    return s.error and s.error ~= "" and ("error: " .. s.error) or "error", "err"
  end
  if st == "abandoned" then return "abandoned", "dim" end
  return "(did not end)", "open"
end

local function is_open(s)
  return s.finish == nil or s.status == "open"
end

local function dur_text(s, now)
  if is_open(s) then
    if not s.start then return "?" end
    return "≥" .. fmt.duration(now - s.start)
  end
  return fmt.duration(s.dur or (s.finish - (s.start or s.finish)))
end

local function markers(s)
  if s.remote_parent then
    local p = type(s.remote_parent) == "string" and s.remote_parent or s.parent
    return "  [remote parent " .. fmt.short_id(p) .. "]"
  end
  if s.cycle then return "  [parent cycle cut]" end
  if s.orphan then
    local p = tostring(s.parent)
    return "  [orphan: parent …" .. p:sub(-8) .. " not seen]"
  end
  return ""
end

-- Splits text into plain and "match" pieces where the search term occurs.
local function push_matched(out, text, style, term)
  if term and term ~= "" then
    local lower, lt = text:lower(), term:lower()
    local pos = 1
    while true do
      local a, b = lower:find(lt, pos, true)
      if not a then break end
      if a > pos then push(out, text:sub(pos, a - 1), style) end
      push(out, text:sub(a, b), "match")
      pos = b + 1
    end
    if pos <= #text then push(out, text:sub(pos), style) end
  else
    push(out, text, style)
  end
end

-- Guides of at most `cap` levels (tree_text's MAX_GUIDES, and no more than
-- half of the name column); deeper rows keep those guides and say their
-- depth ("[depth N] "), so a 10^5-deep chain stays readable and linear.
local function tree_prefix(row, name_w)
  local parts = {}
  local lasts = row.lasts
  local cap = math.max(1, math.min(MAX_GUIDES, name_w // 6))
  local depth = row.depth
  for level = 2, math.min(depth, cap + 1) do
    parts[#parts + 1] = lasts[level] and "   " or "│  "
  end
  if depth > cap then parts[#parts + 1] = "[depth " .. depth .. "] " end
  if depth >= 1 then
    parts[#parts + 1] = lasts[depth + 1] and "└─ " or "├─ "
  end
  return table.concat(parts)
end

local GROUP_FIELDS = require("spanline.core").span_fields({ "status", "start", "finish", "dur" })

-- Statistics of a group of repeated siblings (cached per store version).
local function group_stats(g, store, view)
  local st = g.stats
  if st and st.version == store.version then return st end
  st = { version = store.version, errors = 0, open = 0, total = 0 }
  for _, ref in ipairs((view:members(g))) do
    local s = store:span(ref, GROUP_FIELDS)
    if s.status == "error" then st.errors = st.errors + 1 end
    if is_open(s) then
      st.open = st.open + 1
    else
      st.total = st.total + (s.dur or 0)
    end
    local a, b = s.start, s.finish or s.start
    if a and (st.lo == nil or a < st.lo) then st.lo = a end
    if b and (st.hi == nil or b > st.hi) then st.hi = b end
  end
  g.stats = st
  return st
end

-- The common tail of a span row: name column, duration, status, bar.
local function span_cells(out, s, name_text, name_w, bar_w, ctx, lo, hi, name_style)
  local st_text, st_style = status_text(s)
  name_text = fmt.pad(name_text, name_w)
  push_matched(out, name_text, name_style or st_style, ctx.search)
  push(out, " " .. fmt.rpad(dur_text(s, ctx.now), DUR_W) .. " ", nil)
  push(out, fmt.pad(st_text, STATUS_W), st_style)
  if bar_w > 0 then
    local fill = s.status == "abandoned" and "▒" or "█"
    push(out, " ", nil)
    push(out, fmt.bar(bar_w, lo, hi, s.start or lo, s.finish, is_open(s), fill), st_style or "bar")
  end
end

-- ctx: { width, store, now, search, view }
function draw.logical(row, ctx)
  local out = {}
  local name_w, bar_w = layout(ctx.width, 0)
  local prefix = tree_prefix(row, name_w)
  if row.group then
    local g = row.group
    local st = group_stats(g, ctx.store, ctx.view)
    local open = ctx.view:group_open(g)
    local text = fmt.pad(prefix .. (open and "▾ " or "▸ ") .. g.name .. " × " .. g.n, name_w)
    push_matched(out, text, "group", ctx.search)
    push(out, " " .. fmt.rpad("Σ" .. fmt.duration(st.total), DUR_W) .. " ", nil)
    local parts = {}
    if st.errors > 0 then parts[#parts + 1] = st.errors .. (st.errors == 1 and " error" or " errors") end
    if st.open > 0 then parts[#parts + 1] = st.open .. " open" end
    local stext = #parts > 0 and table.concat(parts, ", ") or "ok"
    push(out, fmt.pad(stext, STATUS_W), st.errors > 0 and "err" or nil)
    if bar_w > 0 then
      local lo, hi = ctx.store:range(g.first)
      push(out, " ", nil)
      push(out, fmt.bar(bar_w, lo, hi, st.lo or lo, st.hi, st.open > 0, "▒"), "group")
    end
    return out
  end
  local s = row.span
  local mark = ""
  local kids = row.nkids or 0
  if kids > 0 and ctx.view:is_folded(row.ref) then mark = "▸ " end
  local text = prefix .. mark .. (s.name or "?")
  if mark ~= "" then text = text .. " (+" .. kids .. ")" end
  local marks = markers(s)
  local lo, hi = ctx.store:range(row.ref)
  span_cells(out, s, text .. marks, name_w, bar_w, ctx, lo, hi, (marks ~= "" and s.status == "ok") and "warn" or nil)
  return out
end

function draw.time(row, ctx)
  local out = {}
  local tl = ctx.view
  if not row.ref then
    local b = row.bucket
    local st = tl:stats(b)
    local folded = tl:is_folded(b)
    local parts = {
      (folded and "▸ " or "▾ ") .. fmt.clock(b.lo) .. " " .. fmt.offset(b.lo - (tl.t0 or b.lo)),
      st.count .. (st.count == 1 and " span" or " spans"),
    }
    if st.errors > 0 then parts[#parts + 1] = st.errors .. (st.errors == 1 and " error" or " errors") end
    if st.open > 0 then parts[#parts + 1] = st.open .. " open" end
    if st.slowest then
      parts[#parts + 1] = "slowest " .. (st.slowest.name or "?") .. " " .. fmt.duration(st.slowest.dur)
    end
    if (b.gap or 0) > 0 then
      parts[#parts + 1] = "(" .. b.gap .. (b.gap == 1 and " empty bucket" or " empty buckets") .. " before)"
    end
    local text = fmt.pad(table.concat(parts, "  "), ctx.width)
    push(out, text, st.errors > 0 and "bucket_err" or "bucket")
    return out
  end
  local s = row.span
  local name_w, bar_w = layout(ctx.width, OFFSET_W + LANE_W + 4)
  push(out, "  " .. fmt.rpad(fmt.offset(s.start - (tl.t0 or s.start)), OFFSET_W) .. " ", "dim")
  local lane = s.lane and s.lane ~= 0 and ("L" .. tostring(s.lane)) or ""
  push(out, fmt.pad(lane, LANE_W) .. " ", "lane")
  local indent = string.rep(" ", math.min(tonumber(s.depth) or 0, 8))
  local lo = row.bucket.lo
  span_cells(out, s, indent .. (s.name or "?") .. markers(s), name_w, bar_w, ctx, lo, lo + tl.interval)
  return out
end

function draw.text(line)
  local parts = {}
  for i = 1, #line, 2 do parts[#parts + 1] = line[i] end
  local s = table.concat(parts)
  -- trailing spaces off (a loop: gsub("%s+$") is quadratic on long runs)
  local e = #s
  while e > 0 and s:byte(e) == 32 do e = e - 1 end
  return s:sub(1, e)
end

-- The one-line summary above the rows.
function draw.summary(store, mode)
  local c = store.counts
  local traces = store.traces
  local parts = {
    c.spans .. (c.spans == 1 and " span" or " spans"),
    traces .. (traces == 1 and " trace" or " traces"),
  }
  if c.open > 0 then parts[#parts + 1] = c.open .. " open" end
  if c.errors > 0 then parts[#parts + 1] = c.errors .. (c.errors == 1 and " error" or " errors") end
  if c.abandoned > 0 then parts[#parts + 1] = c.abandoned .. " abandoned" end
  if store.bad > 0 then parts[#parts + 1] = store.bad .. " bad lines" end
  if store.min_ts and store.max_ts then
    parts[#parts + 1] = fmt.clock(store.min_ts) .. " .. " .. fmt.clock(store.max_ts)
      .. " (" .. fmt.duration(store.max_ts - store.min_ts) .. ")"
  end
  return "[" .. mode .. "] " .. table.concat(parts, ", ")
end

-- The details pane: lines of text about one span.
function draw.details(s, store, width)
  local lines = {}
  local function add(text) lines[#lines + 1] = fmt.cut(text, width) end
  add("── " .. (s.name or "?") .. " " .. string.rep("─", math.max(0, width - 4 - fmt.width(s.name or "?"))))
  local st = status_text(s)
  add("id " .. tostring(s.id) .. "  trace " .. tostring(s.trace))
  local parent = s.parent and tostring(s.parent) or "(root)"
  if s.remote_parent then parent = parent .. " (remote)" elseif s.cycle then parent = parent .. " (parent cycle cut)"
  elseif s.orphan then parent = parent .. " (not seen: orphan)" end
  add("parent " .. parent .. ((s.lane and s.lane ~= 0) and ("  lane " .. tostring(s.lane)) or ""))
  local timing = "start " .. fmt.timestamp(s.start)
  if is_open(s) then
    timing = timing .. "  running " .. fmt.duration(store:now() - (s.start or 0)) .. " (did not end)"
  else
    timing = timing .. "  dur " .. fmt.duration(s.dur or 0)
    if s.self then timing = timing .. "  self " .. fmt.duration(s.self) end
  end
  add(timing .. "  status " .. st)
  local attrs = fmt.attrs(s.attrs)
  add("attrs " .. (attrs ~= "" and attrs or "(none)"))
  local events = s.events or {}
  if #events == 0 then
    add("events (none)")
  else
    for i, e in ipairs(events) do
      local off = e.ts and s.start and fmt.duration(e.ts - s.start) or "?"
      local a = fmt.attrs(e.attrs)
      add((i == 1 and "events " or "       ") .. "+" .. off .. " " .. tostring(e.name) .. (a ~= "" and (" " .. a) or ""))
    end
  end
  return lines
end

return draw
