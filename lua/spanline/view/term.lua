-- term.lua: the terminal through luv: raw mode, the alternate screen, window
-- size and resize, keys decoded into names, and a restore that always runs.
--
-- Restoring is idempotent and is called on quit, on a Lua error (app.lua
-- wraps every callback), and on SIGINT/SIGTERM/SIGHUP (handled as a quit),
-- so the shell never gets back a raw, cursorless terminal.
--
-- Output goes through the luv TTY handle in blocking mode, never through
-- io.stdout: libuv puts the terminal's file description in non-blocking
-- mode (fds 0 and 1 usually share it), and stdio then loses the rest of a
-- large frame to EAGAIN while the terminal is slow to read.

local uv = require("luv")

local term = {}
term.__index = term

local ENTER = "\27[?1049h\27[?25l\27[H\27[2J"
local LEAVE = "\27[0m\27[?25h\27[?1049l"

-- Decodes a chunk of input bytes into key names ("up", "enter", "q", ...).
local SEQ = {
  ["\27[A"] = "up", ["\27[B"] = "down", ["\27[C"] = "right", ["\27[D"] = "left",
  ["\27OA"] = "up", ["\27OB"] = "down", ["\27OC"] = "right", ["\27OD"] = "left",
  ["\27[H"] = "home", ["\27[F"] = "end", ["\27OH"] = "home", ["\27OF"] = "end",
  ["\27[1~"] = "home", ["\27[4~"] = "end", ["\27[5~"] = "pgup", ["\27[6~"] = "pgdn",
  ["\27[7~"] = "home", ["\27[8~"] = "end", ["\27[3~"] = "delete",
}

function term.keys(data)
  local keys = {}
  local i, n = 1, #data
  while i <= n do
    local c = data:sub(i, i)
    if c == "\27" then
      local seq = data:match("^\27[%[O][%d;]*[%a~]", i)
      if seq then
        keys[#keys + 1] = SEQ[seq] or "unknown"
        i = i + #seq
      else
        keys[#keys + 1] = "esc"
        i = i + 1
      end
    elseif c == "\r" or c == "\n" then
      keys[#keys + 1] = "enter"; i = i + 1
    elseif c == "\127" or c == "\8" then
      keys[#keys + 1] = "backspace"; i = i + 1
    elseif c == "\3" then
      keys[#keys + 1] = "ctrl-c"; i = i + 1
    elseif c == "\t" then
      keys[#keys + 1] = "tab"; i = i + 1
    else
      local b = c:byte()
      local size = b < 0x80 and 1 or b >= 0xF0 and 4 or b >= 0xE0 and 3 or b >= 0xC0 and 2 or 1
      local ch = data:sub(i, i + size - 1)
      if b >= 32 and b ~= 127 then keys[#keys + 1] = ch end
      i = i + size
    end
  end
  return keys
end

-- Opens the terminal; handlers: on_keys(list), on_resize(w, h), on_signal(name).
function term.open(handlers)
  local self = setmetatable({ handlers = handlers, closed = false }, term)
  local stdin, err = uv.new_tty(0, true)
  if not stdin then return nil, "cannot open the terminal: " .. tostring(err) end
  local stdout = uv.new_tty(1, false)
  if not stdout then
    stdin:close()
    return nil, "stdout is not a terminal"
  end
  self.stdin, self.stdout = stdin, stdout
  local ok, merr = stdin:set_mode(1)   -- raw
  if not ok then
    stdin:close(); stdout:close()
    return nil, "cannot switch the terminal to raw mode: " .. tostring(merr)
  end
  -- Every byte of a frame must reach the terminal: writes block until the
  -- terminal took them (a viewer has nothing better to do meanwhile).
  stdout:set_blocking(true)
  self:write(ENTER)
  stdin:read_start(function(rerr, data)
    if rerr or not data then
      if handlers.on_signal then handlers.on_signal("eof") end
      return
    end
    handlers.on_keys(term.keys(data))
  end)
  self.signals = {}
  local function watch(name, fn)
    local sig = uv.new_signal()
    sig:start(name, fn)
    self.signals[#self.signals + 1] = sig
  end
  watch("sigwinch", function()
    local w, h = self:size()
    handlers.on_resize(w, h)
  end)
  for _, name in ipairs({ "sigint", "sigterm", "sighup" }) do
    watch(name, function() handlers.on_signal(name) end)
  end
  return self
end

function term:size()
  local w, h = self.stdout:get_winsize()
  return w or 80, h or 24
end

function term:write(s)
  if self.closed or s == "" then return end
  self.stdout:write(s)
end

-- Leaves raw mode and the alternate screen; safe to call more than once.
function term:close()
  if self.closed then return end
  self:write(LEAVE)
  self.closed = true
  for _, sig in ipairs(self.signals or {}) do
    if not sig:is_closing() then sig:stop(); sig:close() end
  end
  if self.stdin then
    pcall(self.stdin.read_stop, self.stdin)
    pcall(self.stdin.set_mode, self.stdin, 0)
    if not self.stdin:is_closing() then self.stdin:close() end
  end
  if self.stdout and not self.stdout:is_closing() then self.stdout:close() end
  uv.tty_reset_mode()
end

return term
