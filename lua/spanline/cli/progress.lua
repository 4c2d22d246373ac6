-- progress.lua: "reading FILE: 120 MB of 480 MB, 95 MB/s, 4 s left" on
-- stderr while a command reads a large file, when stderr is a terminal
-- (never when it is not: scripts and tests read stderr), after a second.
--
-- Key idea: the reading happens in C loops the command cannot interrupt,
-- so a luv thread watches from outside: every quarter second it reads the
-- file offset of the reader's descriptor (/proc/self/fdinfo) and redraws
-- one line. The command's own thread pays nothing. Stopping closes a pipe
-- the watcher listens on; it clears its line and ends, and stop waits for
-- that, so nothing the command writes next lands on the progress line.
-- Only a regular file is watched (a pipe has no offset); without /proc
-- nothing is shown.

local uv = require("luv")

local progress = {}

-- Shown after this many milliseconds of reading (SPANLINE_PROGRESS_AFTER
-- sets it: the tests use 0).
local function delay_ms()
  local v = tonumber(os.getenv("SPANLINE_PROGRESS_AFTER") or "")
  return v and v >= 0 and v or 1000
end

-- The descriptor this process has open on path (the reader's) and what
-- it links to in /proc/self/fd, or nil.
local function fd_of(path)
  if path == "-" then return 0, uv.fs_readlink("/proc/self/fd/0") end
  local real = uv.fs_realpath(path)
  if not real then return nil end
  local found
  local scan = uv.fs_scandir("/proc/self/fd")
  while scan do
    local name = uv.fs_scandir_next(scan)
    if not name then break end
    local n = tonumber(name)
    if n and n > 2 and uv.fs_readlink("/proc/self/fd/" .. name) == real then
      found = math.max(found or 0, n)   -- the newest: the reader opened last
    end
  end
  return found, real
end

-- The watcher, run in its own thread and Lua state (THREAD loads this
-- module there): draws the line until the stop pipe closes.
function progress.watch(fd, link, size, label, after, stop_fd)
  local wuv = require("luv")
  local text = require("spanline.text")
  local function bytes(n)
    local units = { "B", "kB", "MB", "GB", "TB" }
    local u = 1
    while n >= 1000 and u < #units do
      n = n / 1000
      u = u + 1
    end
    return (u == 1 and string.format("%d", n) or string.format(n < 10 and "%.1f" or "%.0f", n)) .. " " .. units[u]
  end
  -- the reader's offset; a descriptor closed (or reused for another
  -- file) means the reader is done with it: all of it was read
  local function offset()
    fd = math.tointeger(fd)
    if wuv.fs_readlink("/proc/self/fd/" .. fd) ~= link then return size end
    local f = io.open("/proc/self/fdinfo/" .. fd)
    if not f then return size end
    local info = f:read("a")
    f:close()
    return tonumber(info:match("pos:%s*(%d+)")) or size
  end
  local t0, shown = wuv.hrtime(), false
  local function draw()
    local elapsed = (wuv.hrtime() - t0) / 1e9
    if elapsed * 1000 < after then return end
    local pos = offset()
    if not pos then return end
    local parts = { bytes(pos) .. (size > 0 and (" of " .. bytes(size)) or "") }
    local rate = elapsed > 0 and pos / elapsed or 0
    if rate > 0 then parts[#parts + 1] = bytes(rate) .. "/s" end
    if size > 0 and rate > 0 and pos < size then
      parts[#parts + 1] = text.duration(math.floor((size - pos) / rate * 1e9)) .. " left"
    end
    io.stderr:write("\r\27[K", label, table.concat(parts, ", "))
    io.stderr:flush()
    shown = true
  end
  local timer = wuv.new_timer()
  local stop = wuv.new_pipe(false)
  stop:open(math.tointeger(stop_fd))
  timer:start(0, 250, draw)
  stop:read_start(function(_, data)
    if data then return end
    timer:stop()
    timer:close()
    stop:close()
    if shown then
      io.stderr:write("\r\27[K")
      io.stderr:flush()
    end
  end)
  wuv.run()
end

-- The thread's code: given as text (luv 1.44 cannot load a function of
-- this size dumped for a thread), it finds this module as its parent did.
local THREAD = [[
local fd, link, size, label, after, stop_fd, lpath, lcpath = ...
package.path, package.cpath = lpath, lcpath
require("spanline.cli.progress").watch(fd, link, size, label, after, stop_fd)
]]

-- The watchers running, so cli.main can stop them all before it writes a
-- message (at most one per file a command reads).
local running = {}

-- Starts showing progress of reading path (already opened by a reader),
-- with label before it ("spanline report: reading spans.jsonl: "). Returns
-- a function that stops it (and waits for its line to be cleared); it does
-- nothing when stderr is not a terminal or the offset cannot be read, and
-- with quiet_tty_stdout when stdout is a terminal too (a command printing
-- as it reads would have its lines torn by the redraws).
function progress.start(path, label, quiet_tty_stdout)
  local function none() end
  if uv.guess_handle(2) ~= "tty" then return none end
  if quiet_tty_stdout and uv.guess_handle(1) == "tty" then return none end
  -- a regular file: a pipe or a terminal has no offset to show
  local st = path == "-" and uv.fs_fstat(0) or uv.fs_stat(path)
  if not (st and st.type == "file") then return none end
  local fd, link = fd_of(path)
  if not fd or not link then return none end
  local size = st.size
  local pipe = uv.pipe({ nonblock = false }, { nonblock = false })
  if not pipe then return none end
  local thread = uv.new_thread(THREAD, fd, link, size, label, delay_ms(), pipe.read, package.path, package.cpath)
  if not thread then
    uv.fs_close(pipe.read)
    uv.fs_close(pipe.write)
    return none
  end
  local stopped = false
  local function stop()
    if stopped then return end
    stopped = true
    running[stop] = nil
    uv.fs_close(pipe.write)   -- the watcher reads EOF (it owns and closes the read end)
    thread:join()
  end
  running[stop] = true
  return stop
end

-- Stops every watcher still running.
function progress.stop_all()
  for stop in pairs(running) do stop() end
end

return progress
