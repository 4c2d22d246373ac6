-- view_fake.lua: span objects built by hand for the viewer's specs, in the
-- shape spanline.query's assembler gives (id, trace, parent, name, start,
-- finish, dur, status, error, attrs, events, lane, children, orphan,
-- remote_parent), behind the same :add/:get/:roots interface.
local fake = {}

local T0 = 1764000000000000000
fake.T0 = T0
fake.MS = 1000000

function fake.assembler()
  local a = { by = {}, all = {} }
  function a:get(id) return self.by[id] end
  function a:roots()
    local r = {}
    for _, s in ipairs(self.all) do
      if s.parent == nil or s.orphan then r[#r + 1] = s end
    end
    return r
  end
  function a:add(rec)
    if rec.type == "start" then
      local s = {
        id = rec.id, trace = rec.trace or (self.by[rec.parent or ""] or {}).trace or rec.id, parent = rec.parent, name = rec.name,
        start = rec.ts, status = "open", attrs = rec.attrs or {}, events = {}, lane = rec.lane,
        children = {},
      }
      self.by[s.id] = s
      self.all[#self.all + 1] = s
      local p = s.parent and self.by[s.parent]
      if p then
        p.children[#p.children + 1] = s
        s.depth = (p.depth or 0) + 1
      elseif s.parent then
        s.orphan = true
        if #s.parent == 16 then s.remote_parent = true end
      end
      for _, o in ipairs(self.all) do
        if o.orphan and o.parent == s.id then
          o.orphan = nil
          s.children[#s.children + 1] = o
        end
      end
    elseif rec.type == "end" then
      local s = self.by[rec.id]
      s.finish, s.dur, s.status, s.error = rec.ts, rec.ts - s.start, rec.status, rec.error
    elseif rec.type == "event" then
      local s = self.by[rec.id]
      s.events[#s.events + 1] = { name = rec.name, ts = rec.ts, attrs = rec.attrs or {} }
    end
  end
  return a
end

-- A store over a fake assembler with helpers taking milliseconds from T0.
function fake.store()
  local store = require("spanline.view.store").new(fake.assembler())
  local h = {}
  function h.start(id, parent, name, t, extra)
    local rec = { type = "start", id = id, parent = parent, name = name, ts = T0 + math.floor(t * fake.MS), lane = 1 }
    for k, v in pairs(extra or {}) do rec[k] = v end
    store:add(rec)
  end
  function h.finish(id, t, status, err)
    store:add({ type = "end", id = id, ts = T0 + math.floor(t * fake.MS), status = status or "ok", error = err })
  end
  function h.event(id, name, t, attrs)
    store:add({ type = "event", id = id, name = name, ts = T0 + math.floor(t * fake.MS), attrs = attrs })
  end
  return store, h
end

-- The shop trace of tests/fixtures/view_basic.jsonl, by hand.
function fake.shop()
  local store, h = fake.store()
  h.start("a1", nil, "checkout", 0, { attrs = { user = "bob" } })
  h.start("a2", "a1", "db.query", 1); h.finish("a2", 4)
  h.start("a3", "a1", "http.get", 5)
  h.start("a4", "a3", "parse", 6); h.finish("a4", 7)
  h.event("a3", "retry", 6, { attempt = 2 })
  h.finish("a3", 9, "error", "timeout")
  for i = 1, 5 do h.start("r" .. i, "a1", "cache.get", 10 + i); h.finish("r" .. i, 10.5 + i) end
  h.start("w", "a1", "worker", 16, { lane = 2 })
  h.start("g", "a1", "gc'd", 17); h.finish("g", 18, "abandoned")
  h.finish("a1", 20)
  h.start("o", "zz", "orphan.job", 3, { trace = "t2" }); h.finish("o", 8)
  h.start("x", "00f067aa0ba902b7", "remote.handler", 2, { trace = "t3" }); h.finish("x", 12)
  return store, h
end

return fake
