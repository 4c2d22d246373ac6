-- instrument_helper.lua: tracers for the instrument and lifecycle specs.
--
-- new() gives a tracer and a function returning the records written so far
-- as plain tables {type, id, parent, name, status, error}. It uses the real
-- spanline tracer with a function output; SPANLINE_FAKE_TRACER=1 swaps in a
-- small fake with the same surface (start/finish/traced), to test
-- instrument.lua alone.

local helper = {}

local function fake_tracer()
  local log, stack, next_id = {}, {}, 0
  local tracer = {}
  local span_mt = {}
  span_mt.__index = span_mt
  function span_mt:finish(status, err)
    assert(not self.done, "span finished twice")
    self.done = true
    for i = #stack, 1, -1 do
      if stack[i] == self then table.remove(stack, i) break end
    end
    log[#log + 1] = { type = "end", id = self.sid, status = status or "ok", error = err }
  end
  span_mt.__gc = function(self)
    if not self.done then
      self.done = true
      log[#log + 1] = { type = "end", id = self.sid, status = "abandoned" }
    end
  end
  function tracer:start(name, attrs, opts)
    assert(type(name) == "string", "name")
    next_id = next_id + 1
    local parent = stack[#stack]
    local span = setmetatable({ sid = tostring(next_id), name = name }, span_mt)
    log[#log + 1] = { type = "start", id = span.sid, parent = parent and parent.sid,
                      name = name, attrs = attrs }
    if not (opts and opts.current == false) then stack[#stack + 1] = span end
    return span
  end
  function tracer:traced(name, fn)
    return function(...)
      local span = self:start(name)
      local r = table.pack(pcall(fn, ...))
      if r[1] then span:finish() else span:finish("error", tostring(r[2])) error(r[2], 0) end
      return table.unpack(r, 2, r.n)
    end
  end
  function tracer:close()
    for i = #stack, 1, -1 do span_mt.__gc(stack[i]) end
  end
  return tracer, function() return log end
end

local function real_tracer(spanline)
  local chunks = {}
  local tracer = spanline.tracer{ output = function(batch) chunks[#chunks + 1] = batch end,
                                  flush = "always" }
  local cjson = require("cjson")
  return tracer, function()
    tracer:flush()
    local out = {}
    for line in table.concat(chunks):gmatch("[^\n]+") do
      local r = cjson.decode(line)   -- ids are strings; timestamps are not used here
      if r.type == "start" or r.type == "end" then
        out[#out + 1] = { type = r.type, id = r.id, parent = r.parent ~= cjson.null and r.parent or nil,
                          name = r.name, status = r.status, error = r.error, attrs = r.attrs }
      end
    end
    return out
  end
end

function helper.new()
  if os.getenv("SPANLINE_FAKE_TRACER") == "1" then return fake_tracer() end
  helper.real = true
  return real_tracer(require("spanline"))
end

-- Spans assembled from records: list in start order, each
-- {name, id, parent, status, error}; by_name[name] = list of them.
function helper.spans(records)
  local list, by_id, by_name = {}, {}, {}
  for _, r in ipairs(records) do
    if r.type == "start" then
      local s = { name = r.name, id = r.id, parent = r.parent, attrs = r.attrs }
      list[#list + 1] = s
      by_id[r.id] = s
      by_name[r.name] = by_name[r.name] or {}
      table.insert(by_name[r.name], s)
    elseif r.type == "end" and by_id[r.id] then
      by_id[r.id].status = r.status
      by_id[r.id].error = r.error
    end
  end
  return list, by_name, by_id
end

return helper
