-- screen.lua: an off-screen grid of cells (one code point + a style each)
-- and the ANSI text that turns the previous frame into this one.
--
-- Each frame is drawn in full into the grid; flush compares it with the last
-- frame and emits only the cells that changed (cursor moves plus text), so
-- scrolling a large trace writes a few hundred bytes and never flickers.
-- A wide character takes two cells; the second holds "" (nothing to write).

local fmt = require("spanline.view.fmt")
local cp_width = fmt.cp_width

local screen = {}
screen.__index = screen

-- Style names -> SGR parameters. A trailing "!" means "selected" (reverse).
local SGR = {
  n = "0", err = "0;1;31", open = "0;33", dim = "0;2", match = "0;1;30;43",
  group = "0;36", bucket = "0;1;36", bucket_err = "0;1;31", lane = "0;35",
  bar = "0;34", warn = "0;33", head = "0;1;7", foot = "0;7", prompt = "0;1",
  pane = "0;2",
}

local function sgr(style)
  local sel = style:sub(-1) == "!"
  local base = sel and style:sub(1, -2) or style
  local p = SGR[base] or "0"
  if sel then p = p .. ";7" end
  return "\27[" .. p .. "m"
end

function screen.new(width, height)
  local self = setmetatable({}, screen)
  self:resize(width, height)
  return self
end

function screen:resize(width, height)
  self.width, self.height = width, height
  self.prev = nil            -- unknown: the next flush repaints everything
  self.chars, self.styles = {}, {}
  self:clear()
end

-- Blanks the grid (reusing its tables: a frame allocates almost nothing).
function screen:clear()
  local chars, styles, w = self.chars, self.styles, self.width
  for y = 1, self.height do
    local cr, sr = chars[y], styles[y]
    if not cr then
      cr, sr = {}, {}
      chars[y], styles[y] = cr, sr
    end
    for x = 1, w do cr[x], sr[x] = " ", "n" end
  end
end

-- Writes styled pieces { text, style, ... } on row y from column x;
-- `selected` turns every style of the row into its selected form.
function screen:put(y, x, pieces, selected)
  if y < 1 or y > self.height then return end
  local cr, sr = self.chars[y], self.styles[y]
  local w = self.width
  local pattern = utf8.charpattern
  for i = 1, #pieces, 2 do
    local style = pieces[i + 1] or "n"
    if selected then style = style .. "!" end
    local text = fmt.clean(pieces[i])
    for ch in text:gmatch(pattern) do
      if x > w then return end
      if #ch > 2 and cp_width(utf8.codepoint(ch)) == 2 then
        -- a wide character: its second cell holds "" (nothing to write)
        if x + 1 > w then
          cr[x], sr[x] = " ", style
          return
        end
        if x >= 1 then cr[x], sr[x], cr[x + 1], sr[x + 1] = ch, style, "", style end
        x = x + 2
      else
        if x >= 1 then cr[x], sr[x] = ch, style end
        x = x + 1
      end
    end
  end
  if selected then
    for k = x, w do
      if k >= 1 then sr[k] = sr[k]:sub(-1) == "!" and sr[k] or (sr[k] .. "!") end
    end
  end
end

-- The ANSI bytes that bring the terminal from the last frame to this one.
function screen:flush()
  local out = {}
  local prev = self.prev
  if not prev then out[1] = "\27[0m\27[H\27[2J" end
  local cur_style
  local cx, cy
  for y = 1, self.height do
    local cr, sr = self.chars[y], self.styles[y]
    local pcr, psr = prev and prev.chars[y], prev and prev.styles[y]
    for x = 1, self.width do
      local ch, st = cr[x], sr[x]
      if not pcr or pcr[x] ~= ch or psr[x] ~= st then
        if cy ~= y or cx ~= x then
          out[#out + 1] = "\27[" .. y .. ";" .. x .. "H"
        end
        if st ~= cur_style then
          out[#out + 1] = sgr(st)
          cur_style = st
        end
        out[#out + 1] = ch
        cx, cy = x + 1, y
      end
    end
  end
  if cur_style then out[#out + 1] = "\27[0m" end
  -- swap the grids: the frame just drawn becomes the one to compare against
  local old = self.prev
  self.prev = { chars = self.chars, styles = self.styles }
  if old then
    self.chars, self.styles = old.chars, old.styles
  else
    self.chars, self.styles = {}, {}
  end
  self:clear()
  return table.concat(out)
end

-- The last flushed frame as plain text lines (what the terminal shows).
function screen:shown()
  local lines = {}
  local chars = self.prev and self.prev.chars or self.chars
  for y = 1, self.height do lines[y] = table.concat(chars[y]) end
  return lines
end

return screen
