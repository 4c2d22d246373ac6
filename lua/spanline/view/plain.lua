-- plain.lua: `spanline view --plain`: the chosen view printed once as text.
--
-- The rows are the ones the interactive viewer starts with (repeated siblings
-- collapsed, nothing folded), drawn by draw.lua without colours, so the
-- golden tests of this output also pin down what the screen shows.

local draw = require("spanline.view.draw")
local model = require("spanline.view.model")
local timeline = require("spanline.view.timeline")

local plain = {}

-- opts: { mode = "logical" | "time", interval = ns, width = n, out = file,
-- scale = "trace" | "global" (logical bars) }
function plain.render(store, opts)
  local out = opts.out or io.stdout
  local width = opts.width or 100
  store:drain()
  local view, drawer, label
  if opts.mode == "time" then
    local interval = opts.interval or timeline.auto_interval(store.min_ts, store.max_ts)
    view, drawer = timeline.new(store, interval), draw.time
    label = "time, buckets of " .. require("spanline.view.fmt").duration(interval)
  else
    view, drawer, label = model.new(store), draw.logical, draw.scale_label(opts.scale)
  end
  local ctx = { width = width, store = store, now = store:now(), view = view, base = store.min_ts,
    scale = opts.scale }
  local buf, n = { draw.summary(store, label) }, 1
  for row in view:rows(1) do
    n = n + 1
    buf[n] = draw.text(drawer(row, ctx))
    if n >= 4096 then
      out:write(table.concat(buf, "\n", 1, n), "\n")
      n = 0
    end
  end
  if n > 0 then out:write(table.concat(buf, "\n", 1, n), "\n") end
  return true
end

return plain
