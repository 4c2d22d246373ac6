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
local model = require("spanline.view.model")
local screen = require("spanline.view.screen")
local timeline = require("spanline.view.timeline")

local app = {}
app.__index = app

local HELP = {
  "spanline view: keys",
  "",
  "  ↑ ↓  j k      move           PgUp PgDn  page",
  "  g G  Home End first / last",
  "  Enter Space   fold / unfold the span (or group × N, or bucket)",
  "  ← →  h l      fold / unfold, ← on a leaf goes to the parent",
  "  [  ]          collapse all / expand all",
  "  /             search names (Enter to run, Esc to cancel)",
  "  n  N          next / previous match",
  "  t             toggle logical tree / time buckets",
  "  f             toggle follow (new records as they are written)",
  "  ?             this help (any key closes it)",
  "  q  Ctrl-C     quit",
  "",
  "  bars: █ ended  ▒ abandoned or a group  █…▶ did not end (still open)",
}

-- opts: { store, source, mode = "logical"|"time", interval, follow, term, trace }
function app.new(opts)
  local self = setmetatable({}, app)
  self.store = opts.store
  self.source = opts.source
  self.mode = opts.mode or "logical"
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

function app:key(k)
  if self.prompt then
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
    return true
  end
  if self.help then
    self.help = false
    if k ~= "q" then return true end
  end
  local view = self:view()
  if k == "q" or k == "ctrl-c" then
    self.quit = true
  elseif k == "up" or k == "k" then
    self:select_row(self.sel_row - 1)
  elseif k == "down" or k == "j" then
    self:select_row(self.sel_row + 1)
  elseif k == "pgup" then
    self:select_row(self.sel_row - self:page())
  elseif k == "pgdn" then
    self:select_row(self.sel_row + self:page())
  elseif k == "g" or k == "home" then
    self:select_row(1)
  elseif k == "G" or k == "end" then
    self:select_row(view:count())
  elseif k == "enter" or k == " " then
    local row = self:selected_row()
    if row then view:toggle(row) end
  elseif k == "left" or k == "h" then
    local row = self:selected_row()
    if row then
      local hidden = view:hidden(row)
      local has_kids = row.group or row.bucket and not row.ref
        or (row.ref and (row.nkids or 0) > 0 and self.mode == "logical")
      if has_kids and not hidden then
        view:toggle(row)
      elseif self.mode == "logical" and row.ref and self.store:parent(row.ref) then
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
  elseif k == "right" or k == "l" then
    local row = self:selected_row()
    if row and view:hidden(row) then view:toggle(row) end
  elseif k == "[" then
    view:collapse_all()
  elseif k == "]" then
    view:expand_all()
  elseif k == "/" then
    self.prompt = ""
  elseif k == "n" then
    self:goto_match(1)
  elseif k == "N" then
    self:goto_match(-1)
  elseif k == "esc" then
    self.search = nil
  elseif k == "t" then
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
  elseif k == "f" then
    self:set_follow(not self.follow)
  elseif k == "?" then
    self.help = true
  else
    return false
  end
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
  return "↑↓ move  Enter fold  [ ] all  / search  t mode  f follow  ? help  q quit", "foot"
end

function app:render()
  local w, h = self.term:size()
  if not self.screen or self.screen.width ~= w or self.screen.height ~= h then
    self.screen = screen.new(w, h)
  end
  local scr = self.screen
  local view = self:view()
  if self.search and self.search.version ~= self.store.version and self.search.matches then
    -- new data: recount, but it walks every span: at most once a second,
    -- and never more than a tenth of the time
    local S = self.search
    local t = uv.now()
    if not S.recount_at or t - S.recount_at > math.max(1000, 10 * (S.cost or 0)) then
      local t0 = uv.hrtime()
      self:compute_matches()
      S.cost = (uv.hrtime() - t0) / 1e6
      S.recount_at = uv.now()
    end
  end
  local pane_h = h >= 18 and 8 or 0
  local list_h = h - 2 - pane_h
  if list_h < 1 then list_h = 1 end
  self.list_h = list_h
  local n = view:count()
  -- find the selection again; keep it at the same place on the screen
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

  -- header
  local label = self.mode == "time" and ("time, buckets of " .. fmt.duration(self.interval)) or "logical"
  local head = draw.summary(self.store, label)
  local flags = {}
  if self.loading then
    local p = self.source and self.source.progress and self.source:progress()
    flags[#flags + 1] = p and string.format("loading %d%%", math.floor(p * 100)) or "loading…"
  end
  if self.follow then flags[#flags + 1] = "following" end
  if self.error_text then flags[#flags + 1] = "read error: " .. tostring(self.error_text) end
  if #flags > 0 then head = head .. "  " .. table.concat(flags, " ") end
  scr:put(1, 1, { fmt.pad(head, w), "head" })

  -- rows
  local ctx = {
    width = w, store = self.store, now = self.store:now(), view = view,
    search = self.search and self.search.term, base = self.store.min_ts,
  }
  local drawer = self.mode == "time" and draw.time or draw.logical
  if n == 0 then
    scr:put(2, 1, { self.loading and "loading…" or "no spans", "dim" })
  end
  local next_row = view:rows(self.top)
  for i = 0, list_h - 1 do
    local k = self.top + i
    local row = next_row()
    if not row then break end
    scr:put(2 + i, 1, drawer(row, ctx), k == self.sel_row)
  end

  -- details pane
  if pane_h > 0 then
    local y0 = h - pane_h
    local row = view:row(self.sel_row)
    local lines
    if row and row.ref then
      lines = draw.details(row.span, self.store, w)
    elseif row and row.group then
      local g = row.group
      lines = { "── " .. g.name .. " × " .. g.n .. " (repeated siblings; Enter expands) ──" }
    elseif row and row.bucket then
      local st = view:stats(row.bucket)
      lines = { "── bucket " .. fmt.clock(row.bucket.lo) .. " + " .. fmt.duration(self.interval)
        .. ": " .. st.count .. " spans, " .. st.errors .. " errors, " .. st.open .. " open ──" }
      if st.slowest then lines[2] = "slowest: " .. (st.slowest.name or "?") .. " " .. fmt.duration(st.slowest.dur) end
    else
      lines = { "──" }
    end
    for i = 1, pane_h do
      if lines[i] then scr:put(y0 + i - 1, 1, { lines[i], i == 1 and "pane" or "n" }) end
    end
  end

  -- footer
  local text, style = self:status_line()
  scr:put(h, 1, { fmt.pad(text, w), style })

  if self.help then
    local bw = 0
    for _, l in ipairs(HELP) do bw = math.max(bw, fmt.width(l)) end
    bw = math.min(bw + 4, w)
    local x0 = math.max(1, (w - bw) // 2 + 1)
    local y0 = math.max(2, (h - #HELP - 2) // 2)
    scr:put(y0, x0, { "┌" .. string.rep("─", bw - 2) .. "┐", "prompt" })
    for i, l in ipairs(HELP) do
      scr:put(y0 + i, x0, { "│ " .. fmt.pad(l, bw - 4) .. " │", "prompt" })
    end
    scr:put(y0 + #HELP + 1, x0, { "└" .. string.rep("─", bw - 2) .. "┘", "prompt" })
  end

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
