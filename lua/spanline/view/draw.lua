-- draw.lua: one row of either view as styled text, the same for the plain
-- printer and the interactive screen.
--
-- A line is a flat list { text, style, text, style, ... } exactly `width`
-- columns wide; styles are names ("err", "open", "match", ...) that the
-- screen maps to colours and the plain printer ignores.

local fmt = require("spanline.view.fmt")
local MAX_GUIDES = require("spanline.tree_text").MAX_GUIDES

local draw = {}

local DUR_W, OFFSET_W, LANE_W = 9, 11, 4
-- The status column may always grow to this many columns (more when the
-- names leave room); a status wider than the column is cut.
local STATUS_CAP = 16

-- Appends one styled piece ("n" is the plain style).
local function push(out, text, style)
  local n = #out
  out[n + 1] = text
  out[n + 2] = style or "n"
end

-- ===== COLUMNS =====

-- Columns of the tree guides before a name at this depth (tree_prefix).
local function guides_width(depth)
  if depth == 0 then return 0 end
  local w = 3 * math.min(depth, MAX_GUIDES + 1)
  if depth > MAX_GUIDES then w = w + #("[depth " .. depth .. "] ") end
  return w
end

-- What the columns need to show every span whole: { status, name } in
-- columns, from the store's counts and widths (store:widths: the widest
-- error message, the widest name per depth). Names add their tree guides
-- (logical) or indent (time), and 2 for a fold mark.
function draw.needs(store, mode)
  local c, w = store.counts, store:widths()
  local status = 2                                      -- "ok"
  if c.abandoned > 0 then status = math.max(status, 9) end
  if c.open > 0 then status = math.max(status, 13) end    -- "(did not end)"
  if c.errors > 0 then
    status = math.max(status, w.error > 0 and 7 + w.error or 5)   -- "error: " .. message
    status = math.max(status, #(c.errors .. " errors"))            -- a group's
  end
  local name = 0
  for i, nw in pairs(w.names) do
    local depth = i - 1
    local lead = mode == "time" and math.min(depth, 8) or guides_width(depth) + 2
    if nw > 0 and lead + nw > name then name = lead + nw end
  end
  return { status = status, name = name }
end

-- The widths of the name, status and bar columns of a row `width` wide
-- with `extra` columns before the name. The status column gets what its
-- longest entry needs, up to STATUS_CAP or two fifths of what the bar
-- leaves (more when the names need less than the rest); the name column
-- gets the rest; the bar a fifth of the width (at most 40), or nothing
-- when the names would get fewer than 24 columns and fewer than they need.
local function layout(width, extra, need)
  local function share(bar)
    local avail = width - extra - DUR_W - (bar > 0 and 3 or 2) - bar
    local cap = math.max(STATUS_CAP, avail * 2 // 5)
    local status = math.min(need.status, math.max(cap, avail - need.name))
    if avail - status < 4 then status = math.max(0, avail - 4) end
    return math.max(4, avail - status), status
  end
  local bar = math.min(width // 5, 40)
  local name, status = share(bar)
  if name < math.min(24, need.name) then
    bar = 0
    name, status = share(0)
  end
  return name, bar, status
end

-- The column widths of a frame (ctx.cols, worked out once per ctx).
local function columns(ctx, mode, extra)
  local cols = ctx.cols
  if not cols then
    local need = ctx.need or draw.needs(ctx.store, mode)
    local name, bar, status = layout(ctx.width, extra, need)
    cols = { name = name, bar = bar, status = status }
    ctx.cols = cols
  end
  return cols
end

-- The range a logical row's bar is drawn in: its trace's (the default),
-- or with ctx.scale "global" every trace's, so bars compare across traces.
local function bar_range(ctx, ref)
  if ctx.scale == "global" then return ctx.store.min_ts or ctx.now, ctx.now end
  return ctx.store:range(ref)
end

-- The name column: lead (guides, fold mark), the name, keep (a count kept
-- whole: " × 5", " (+3)") and note (a marker such as "[orphan: ...]"),
-- in w columns. What does not fit goes in this order: the end of the
-- note, the note, the part of the name that says least (fmt.cut_name).
local function name_cell(w, lead, name, keep, note)
  keep, note = keep or "", note or ""
  local lw, nw, kw, ow = fmt.width(lead), fmt.width(name), fmt.width(keep), fmt.width(note)
  if lw + nw + kw + ow <= w then return fmt.pad(lead .. name .. keep .. note, w) end
  local room = w - lw - kw
  if ow > 0 and nw + 4 <= room then
    return fmt.pad(lead .. name .. keep .. fmt.cut(note, room - nw), w)
  end
  if room < 2 then return fmt.pad(lead .. name .. keep, w) end
  return fmt.pad(lead .. fmt.cut_name(name, room) .. keep, w)
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

-- The common tail of a span row: name column (already cut to its width),
-- duration, status, bar.
local function span_cells(out, s, name_text, cols, ctx, lo, hi, name_style)
  local st_text, st_style = status_text(s)
  push_matched(out, name_text, name_style or st_style, ctx.search)
  push(out, " " .. fmt.rpad(dur_text(s, ctx.now), DUR_W) .. " ", nil)
  push(out, fmt.pad(st_text, cols.status), st_style)
  if cols.bar > 0 then
    local fill = s.status == "abandoned" and "▒" or "█"
    push(out, " ", nil)
    push(out, fmt.bar(cols.bar, lo, hi, s.start or lo, s.finish, is_open(s), fill), st_style or "bar")
  end
end

-- ctx: { width, store, now, search, view, scale = "trace"|"global", need
-- (draw.needs, worked out when absent) }
function draw.logical(row, ctx)
  local out = {}
  local cols = columns(ctx, "logical", 0)
  local prefix = tree_prefix(row, cols.name)
  if row.group then
    local g = row.group
    local st = group_stats(g, ctx.store, ctx.view)
    local open = ctx.view:group_open(g)
    local text = name_cell(cols.name, prefix .. (open and "▾ " or "▸ "), g.name, " × " .. g.n)
    push_matched(out, text, "group", ctx.search)
    push(out, " " .. fmt.rpad("Σ" .. fmt.duration(st.total), DUR_W) .. " ", nil)
    local parts = {}
    if st.errors > 0 then parts[#parts + 1] = st.errors .. (st.errors == 1 and " error" or " errors") end
    if st.open > 0 then parts[#parts + 1] = st.open .. " open" end
    local stext = #parts > 0 and table.concat(parts, ", ") or "ok"
    push(out, fmt.pad(stext, cols.status), st.errors > 0 and "err" or nil)
    if cols.bar > 0 then
      local lo, hi = bar_range(ctx, g.first)
      push(out, " ", nil)
      push(out, fmt.bar(cols.bar, lo, hi, st.lo or lo, st.hi, st.open > 0, "▒"), "group")
    end
    return out
  end
  local s = row.span
  local mark, count = "", nil
  local kids = row.nkids or 0
  if kids > 0 and ctx.view:is_folded(row.ref) then
    mark, count = "▸ ", " (+" .. kids .. ")"
  end
  local marks = markers(s)
  local text = name_cell(cols.name, prefix .. mark, s.name or "?", count, marks)
  local lo, hi = bar_range(ctx, row.ref)
  span_cells(out, s, text, cols, ctx, lo, hi, (marks ~= "" and s.status == "ok") and "warn" or nil)
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
  local cols = columns(ctx, "time", OFFSET_W + LANE_W + 4)
  push(out, "  " .. fmt.rpad(fmt.offset(s.start - (tl.t0 or s.start)), OFFSET_W) .. " ", "dim")
  local lane = s.lane and s.lane ~= 0 and ("L" .. tostring(s.lane)) or ""
  push(out, fmt.pad(lane, LANE_W) .. " ", "lane")
  local indent = string.rep(" ", math.min(tonumber(s.depth) or 0, 8))
  local lo = row.bucket.lo
  local text = name_cell(cols.name, indent, s.name or "?", nil, markers(s))
  span_cells(out, s, text, cols, ctx, lo, lo + tl.interval)
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

-- The logical view's name in the header, saying how its bars are scaled.
function draw.scale_label(scale)
  if scale == "global" then return "logical, bars on one scale" end
  return "logical, bars per trace"
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
      add((i == 1 and "events " or "       ") .. "+" .. off .. " " .. tostring(e.name)
        .. (a ~= "" and (" " .. a) or ""))
    end
  end
  return lines
end

return draw
