-- source.lua: records from a file (core.reader) into the viewer's store, in
-- slices bounded by a deadline so loading and following never block keys.
-- The records go from the reader into the store's assembler in C, a batch
-- at a time; only the deadline is checked in Lua.
--
-- The reader runs in follow mode when asked: at the end of the data it says
-- "again" rather than "eof", and the app polls it on a timer.

local uv = require("luv")

local source = {}
source.__index = source

-- opts: { store, follow = bool }. Returns a source or nil, message, code.
function source.open(path, opts)
  local core = require("spanline.core")
  local reader, msg, code = core.reader(path, { follow = opts.follow or false })
  if not reader then return nil, msg, code end
  local self = setmetatable({ reader = reader, store = opts.store, path = path }, source)
  local stat = type(path) == "string" and uv.fs_stat(path) or nil
  self.size = stat and stat.size or nil
  return self
end

-- Records per batch between deadline checks.
local BATCH = 4096

-- Reads until the deadline (uv.hrtime() value; nil: no limit). Returns
-- "more" (stopped by the deadline), "again" (follow: no data yet), "eof" or
-- "error" (self.error_text says why).
function source:read(deadline)
  local reader, store = self.reader, self.store
  while true do
    local state, err = store:feed(reader, deadline and BATCH or nil)
    store.bad = reader:bad_lines()
    if state == nil then
      self.error_text = err
      return "error"
    end
    if state ~= "more" then return state end
    if deadline and uv.hrtime() > deadline then return "more" end
  end
end

-- Fraction of the file read so far (nil when the size is unknown).
function source:progress()
  if not self.size or self.size == 0 then return nil end
  return self.reader:offset() / self.size
end

function source:close()
  self.reader:close()
end

return source
