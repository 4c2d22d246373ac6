-- app.lua: the interactive viewer: state (mode, selection, folds, search,
-- follow), keys, and the luv loop that loads, follows and redraws.
--
-- The selection is a span's ref (or a group/bucket), never a row number:
-- after new data or a fold, its row is looked up again and the scroll offset
-- moves with it, so the view stays on what the user chose while records
-- arrive.
-- Loading happens in slices on a timer, so the first screen shows after the
-- first slice, whatever the size of the file.

local uv = require("luv")
local draw = require("spanline.view.draw")
local fmt = require("spanline.view.fmt")
local keymap = require("spanline.view.keys")
local model = require("spanline.view.model")
local screen = require("spanline.view.screen")
local timeline = require("spanline.view.timeline")

local app = {}
app.__index = app

-- opts: { store, source, mode = "logical"|"time", interval, follow, term,
-- trace, scale = "trace"|"global" (the logical view's bars) }
function app.new(opts)
  local self = setmetatable({}, app)
  self.store = opts.store
  self.source = opts.source
  self.mode = opts.mode or "logical"
  self.scale = opts.scale or "trace"
  self.interval = opts.interval
  self.follow = opts.follow or false
  self.term = opts.term
  self.views = { logical = model.new(self.store) }
  self.sel, self.sel_row, self.top = nil, 1, 1
  self.loading = self.source ~= nil
  self.frames = 0
  return self
end

function app:view()
  local v = self.views[self.mode]
  if not v then
    local interval = self.interval
      or timeline.auto_interval(self.store.min_ts, self.store.max_ts)
    self.interval = interval
    v = timeline.new(self.store, interval)
    self.views.time = v
  end
  return v
end

-- ===== selection ===========================================================

local function key_of(row)
  if not row then return nil end
  if row.group then return { ref = row.group.first, group = true } end
  if row.ref then return { ref = row.ref } end
  if row.bucket then return { bucket = row.bucket } end
  return nil
end

-- The row of the selection; when it is folded out of sight, the row of its
-- nearest visible ancestor (or bucket).
function app:resolve(key)
  if not key then return nil end
  local view = self:view()
  if key.bucket then return view:index_of(key.bucket, true) end
  local r, near = view:index_of(key.ref, key.group)
  if r then return r end
  if self.mode == "time" then
    local b = view:bucket_of(key.ref)
    return b and view:index_of(b, true) or nil
  end
  -- folded out of sight: the row of its nearest visible ancestor
  return near
end

function app:select_row(r)
  local view = self:view()
  local n = view:count()
  if r > n then r = n end
  if r < 1 then r = 1 end
  self.sel_row = r
  self.sel = key_of(view:row(r))
end

function app:selected_row()
  return self:view():row(self.sel_row)
end

-- ===== data ================================================================

-- Applies what the store changed since the last frame to the views.
function app:absorb()
  local changed = self.store:drain()
  if #changed == 0 then return false end
  for _, v in pairs(self.views) do v:touch_all(changed) end
  return true
end

-- ===== search ==============================================================

-- Finds every match in the view's order (one search in C over every
-- span), and on the way where the selection is among them.
function app:compute_matches()
  local S = self.search
  local cur = self.sel and self.sel.ref
  local matches, before = self:view():search(S.term, cur)
  local at, after, prev
  if before then
    if matches[before + 1] == cur then
      at = before + 1
      after = before + 2 <= #matches and before + 2 or nil
    else
      after = before + 1 <= #matches and before + 1 or nil
    end
    prev = before > 0 and before or nil
  else
    after = #matches > 0 and 1 or nil   -- no selection: from the top
  end
  S.matches, S.version, S.mode = matches, self.store.version, self.mode
  S.around = { ref = cur, before = prev, after = after, at = at }
end

-- dir: 1 next, -1 previous, 0 the first match at or after the selection.
function app:goto_match(dir)
  local S = self.search
  if not S then return end
  if S.version ~= self.store.version or S.mode ~= self.mode then self:compute_matches() end
  local matches = S.matches
  if #matches == 0 then
    S.index = nil
    return
  end
  local cur = self.sel and self.sel.ref
  local i = cur and not self.sel.group and S.index and matches[S.index] == cur and S.index
  local target
  if i then
    target = dir == 0 and i or ((i - 1 + dir) % #matches) + 1
  else
    -- the selection is not the current match: the matches around it
    local around = S.around
    if not around or around.ref ~= cur then
      self:compute_matches()
      around = S.around
    end
    if dir == 0 and around.at then
      target = around.at           -- a group's first span, for instance
    elseif dir < 0 then
      target = around.before or #matches
    else
      target = around.after or 1
    end
  end
  S.index = target
  local ref = matches[target]
  local r = self:view():reveal(ref)
  self.sel = { ref = ref }
  if r then self.sel_row = r end
end

-- ===== keys ================================================================

function app:page()
  return math.max(1, (self.list_h or 20) - 1)
end

-- The actions of the key map (view/keys.lua), one method each.
function app:move_up() self:select_row(self.sel_row - 1) end
function app:move_down() self:select_row(self.sel_row + 1) end
function app:page_up() self:select_row(self.sel_row - self:page()) end
function app:page_down() self:select_row(self.sel_row + self:page()) end
function app:first_row() self:select_row(1) end
function app:last_row() self:select_row(self:view():count()) end
function app:collapse_all() self:view():collapse_all() end
function app:expand_all() self:view():expand_all() end
function app:start_search() self.prompt = "" end
function app:next_match() self:goto_match(1) end
function app:previous_match() self:goto_match(-1) end
function app:clear_search() self.search = nil end
function app:toggle_follow() self:set_follow(not self.follow) end
function app:show_help() self.help = true end
function app:quit_view() self.quit = true end

function app:toggle_scale()
  self.scale = self.scale == "global" and "trace" or "global"
end

function app:toggle_fold()
  local row = self:selected_row()
  if row then self:view():toggle(row) end
end

-- ← folds what is open; on a leaf (or a folded row) it goes up: to the
-- group the span is in, its parent, or (time mode) its bucket.
function app:go_left()
  local row = self:selected_row()
  if not row then return end
  local view = self:view()
  local has_kids = row.group or row.bucket and not row.ref
    or (row.ref and (row.nkids or 0) > 0 and self.mode == "logical")
  if has_kids and not view:hidden(row) then
    view:toggle(row)
  elseif self.mode == "logical" and row.ref then
    local p = self.store:parent(row.ref)
    local g = type(row.parent) == "table" and row.parent.group and row.parent
    if g then
      self.sel = { ref = g.first, group = true }
    elseif p then
      self.sel = { ref = p }
    end
  elseif self.mode == "time" and row.ref then
    self.sel = { bucket = row.bucket }
  end
end

function app:go_right()
  local row = self:selected_row()
  if row and self:view():hidden(row) then self:view():toggle(row) end
end

-- Logical <-> time, keeping the selected span (a bucket's first span, a
-- group's first member).
function app:toggle_mode()
  local key = self.sel
  if key and key.bucket then
    local first = self:view():ref_at(key.bucket, 1)
    key = first and { ref = first } or nil
  elseif key and key.group then
    key = { ref = key.ref }
  end
  self.mode = self.mode == "logical" and "time" or "logical"
  self:view()
  self.sel = key
  if key and key.ref then
    local r = self:view():index_of(key.ref)
    if r then self.sel_row = r end
  end
end

-- A key typed at the search prompt.
function app:prompt_key(k)
  if k == "enter" then
    local term = self.prompt
    self.prompt = nil
    if term ~= "" then
      self.search = { term = term }
      self:goto_match(0)
    else
      self.search = nil
    end
  elseif k == "esc" or k == "ctrl-c" then
    self.prompt = nil
  elseif k == "backspace" then
    self.prompt = self.prompt:sub(1, (utf8.offset(self.prompt, -1) or 1) - 1)
  elseif #k == 1 or utf8.len(k) == 1 then
    self.prompt = self.prompt .. k
  end
end

-- One key: the prompt takes every key while it is open; the help screen
-- closes on any key (q also quits); else the key map says what to do.
-- Returns whether the key did anything.
function app:key(k)
  if self.prompt then
    self:prompt_key(k)
    return true
  end
  if self.help then
    self.help = false
    if k ~= "q" then return true end
  end
  local action = keymap.action(k)
  if not action then return false end
  self[action](self)
  return true
end

-- ===== drawing =============================================================

function app:status_line()
  if self.prompt then return "/" .. self.prompt .. "▏", "prompt" end
  if self.search then
    local S = self.search
    local n = S.matches and #S.matches or 0
    if n == 0 then return "no match for '" .. S.term .. "'  (/ new search, Esc clear)", "foot" end
    return string.format("match %d/%d for '%s'  (n next, N previous, Esc clear)",
      S.index or 0, n, S.term), "foot"
  end
  return keymap.footer(), "foot"
end

-- New data: the search's matches are counted again, but that walks every
-- span: at most once a second, and never more than a tenth of the time.
function app:recount_matches()
  local S = self.search
  if not (S and S.matches and S.version ~= self.store.version) then return end
  local t = uv.now()
  if not S.recount_at or t - S.recount_at > math.max(1000, 10 * (S.cost or 0)) then
    local t0 = uv.hrtime()
    self:compute_matches()
    S.cost = (uv.hrtime() - t0) / 1e6
    S.recount_at = uv.now()
  end
end

-- Finds the selection again and keeps it at the same place on the screen,
-- within list_h rows of n.
function app:place_selection(n, list_h)
  local view = self:view()
  local r = self:resolve(self.sel)
  if r and r ~= self.sel_row then
    self.top = self.top + (r - self.sel_row)
    self.sel_row = r
  end
  if self.sel_row > n then self.sel_row = n end
  if self.sel_row < 1 then self.sel_row = 1 end
  if not r then self.sel = key_of(view:row(self.sel_row)) end
  if self.sel_row < self.top then self.top = self.sel_row end
  if self.sel_row >= self.top + list_h then self.top = self.sel_row - list_h + 1 end
  if self.top > n - list_h + 1 then self.top = n - list_h + 1 end
  if self.top < 1 then self.top = 1 end
end

-- The view's name in the header: the mode, and how bars are scaled.
function app:mode_label()
  if self.mode == "time" then return "time, buckets of " .. fmt.duration(self.interval) end
  return draw.scale_label(self.scale)
end

function app:draw_header(scr, w)
  local head = draw.summary(self.store, self:mode_label())
  local flags = {}
  if self.loading then
    local p = self.source and self.source.progress and self.source:progress()
    flags[#flags + 1] = p and string.format("loading %d%%", math.floor(p * 100)) or "loading…"
  end
  if self.follow then flags[#flags + 1] = "following" end
  if self.error_text then flags[#flags + 1] = "read error: " .. tostring(self.error_text) end
  if #flags > 0 then head = head .. "  " .. table.concat(flags, " ") end
  scr:put(1, 1, { fmt.pad(head, w), "head" })
end

function app:draw_rows(scr, w, n, list_h)
  local view = self:view()
  local ctx = {
    width = w, store = self.store, now = self.store:now(), view = view,
    search = self.search and self.search.term, base = self.store.min_ts, scale = self.scale,
  }
  local drawer = self.mode == "time" and draw.time or draw.logical
  if n == 0 then
    scr:put(2, 1, { self.loading and "loading…" or "no spans", "dim" })
  end
  local next_row = view:rows(self.top)
  for i = 0, list_h - 1 do
    local row = next_row()
    if not row then break end
    scr:put(2 + i, 1, drawer(row, ctx), self.top + i == self.sel_row)
  end
end

-- The details pane's lines about the selected row.
function app:pane_lines(w)
  local view = self:view()
  local row = view:row(self.sel_row)
  if row and row.ref then return draw.details(row.span, self.store, w) end
  if row and row.group then
    local g = row.group
    return { "── " .. g.name .. " × " .. g.n .. " (repeated siblings; Enter expands) ──" }
  end
  if row and row.bucket then
    local st = view:stats(row.bucket)
    local lines = { "── bucket " .. fmt.clock(row.bucket.lo) .. " + " .. fmt.duration(self.interval)
      .. ": " .. st.count .. " spans, " .. st.errors .. " errors, " .. st.open .. " open ──" }
    if st.slowest then lines[2] = "slowest: " .. (st.slowest.name or "?") .. " " .. fmt.duration(st.slowest.dur) end
    return lines
  end
  return { "──" }
end

function app:draw_pane(scr, w, y0, pane_h)
  local lines = self:pane_lines(w)
  for i = 1, pane_h do
    if lines[i] then scr:put(y0 + i - 1, 1, { lines[i], i == 1 and "pane" or "n" }) end
  end
end

-- The help screen (from the key map), boxed in the middle.
local function draw_help(scr, w, h)
  local lines = keymap.help_lines()
  local bw = 0
  for _, l in ipairs(lines) do bw = math.max(bw, fmt.width(l)) end
  bw = math.min(bw + 4, w)
  local x0 = math.max(1, (w - bw) // 2 + 1)
  local y0 = math.max(2, (h - #lines - 2) // 2)
  scr:put(y0, x0, { "┌" .. string.rep("─", bw - 2) .. "┐", "prompt" })
  for i, l in ipairs(lines) do
    scr:put(y0 + i, x0, { "│ " .. fmt.pad(l, bw - 4) .. " │", "prompt" })
  end
  scr:put(y0 + #lines + 1, x0, { "└" .. string.rep("─", bw - 2) .. "┘", "prompt" })
end

-- One frame: header, rows, details pane, footer (and help on top).
function app:render()
  local w, h = self.term:size()
  if not self.screen or self.screen.width ~= w or self.screen.height ~= h then
    self.screen = screen.new(w, h)
  end
  local scr = self.screen
  self:recount_matches()
  local pane_h = h >= 18 and 8 or 0
  local list_h = math.max(1, h - 2 - pane_h)
  self.list_h = list_h
  local n = self:view():count()
  self:place_selection(n, list_h)
  self:draw_header(scr, w)
  self:draw_rows(scr, w, n, list_h)
  if pane_h > 0 then self:draw_pane(scr, w, h - pane_h, pane_h) end
  local text, style = self:status_line()
  scr:put(h, 1, { fmt.pad(text, w), style })
  if self.help then draw_help(scr, w, h) end
  self.term:write(scr:flush())
  self.frames = self.frames + 1
  self.last_render = uv.hrtime()
end

-- ===== loop ================================================================

-- Reads from the source for at most `budget_ms`; returns whether anything came.
function app:pump(budget_ms)
  if not self.source then return false end
  local deadline = uv.hrtime() + budget_ms * 1000000
  local state = self.source:read(deadline)
  if state ~= "more" then self.loading = false end
  if state == "error" then self.error_text = self.source.error_text end
  return self:absorb()
end

-- Reads everything (tests and --plain).
function app:load_all()
  if not self.source then return end
  repeat
    local state = self.source:read(nil)
  until state ~= "more"
  self.loading = false
  self:absorb()
end

function app:set_follow(on)
  self.follow = on
  self.store.clock = on and function()
    local sec, usec = uv.gettimeofday()
    return sec * 1000000000 + usec * 1000
  end or nil
  if self.follow_timer then
    if on then self.follow_timer:again() else self.follow_timer:stop() end
  end
end

-- Runs the event loop until quit; the terminal is restored whatever happens.
function app:run()
  local failure
  local timers = {}
  local function stop()
    for _, t in ipairs(timers) do
      if not t:is_closing() then t:stop(); t:close() end
    end
    if self.term then self.term:close() end
    uv.stop()
  end
  -- every callback runs through this: an error ends the loop cleanly
  local function guard(fn)
    return function(...)
      local ok, err = xpcall(fn, function(e)
        if os.getenv("SPANLINE_DEBUG") then return debug.traceback(e, 2) end
        return e
      end, ...)
      if not ok then
        failure = failure or err
        stop()
      end
    end
  end
  local term, err = require("spanline.view.term").open({
    on_keys = guard(function(keys)
      for _, k in ipairs(keys) do self:key(k) end
      if self.quit then stop() else self:render() end
    end),
    on_resize = guard(function()
      self.screen = nil
      self:render()
    end),
    on_signal = guard(function(name)
      self.signal = name
      stop()
    end),
  })
  if not term then return nil, err end
  self.term = term
  self:set_follow(self.follow)

  local load_timer = uv.new_timer()
  timers[#timers + 1] = load_timer
  local follow_timer = uv.new_timer()
  timers[#timers + 1] = follow_timer
  self.follow_timer = follow_timer
  local last_clock = 0
  follow_timer:start(100, 100, guard(function()
    if not self.follow or self.loading then return end
    local changed = self:pump(50)
    local now = uv.now()
    -- running clocks of open spans tick once a second
    if changed or (self.store.counts.open > 0 and now - last_clock >= 1000) then
      last_clock = now
      self:render()
    end
  end))
  if not self.follow then follow_timer:stop() end

  load_timer:start(0, 1, guard(function()
    if not self.loading then
      load_timer:stop()
      self:render()
      return
    end
    local budget = self.frames == 0 and 150 or 40
    self:pump(budget)
    local since = (uv.hrtime() - (self.last_render or 0)) / 1e6
    if self.frames == 0 or since > 250 or not self.loading then self:render() end
    if not self.loading then load_timer:stop() end
  end))
  local ok, rerr = pcall(uv.run)
  if not ok then failure = failure or rerr end
  stop()
  -- close handles that are still closing
  uv.run("nowait")
  if failure then error(failure, 0) end
  return true, self.signal
end

return app
