-- view.lua: `spanline view FILE`: the terminal viewer (lua/spanline/view/).
--
-- Interactive on a terminal; with --plain, or when stdout is not a terminal,
-- the chosen view is printed once as text.

local args = require("spanline.cli.args")
local spanfile = require("spanline.cli.spanfile")

local view = {
  summary = "browse spans in the terminal: logical tree or time buckets, live",
  usage = [[
usage: spanline view FILE [--sample logical|DURATION] [--scale trace|global]
                          [--follow] [--plain] [--trace ID]

  --sample logical   the span trees (default)
  --sample 100ms     time mode: spans by start time in buckets of DURATION
                     (units ns us ms s m h); `t` toggles the mode
  --scale trace      logical bars span each trace's own time range (default)
  --scale global     one time scale for every trace, so bars compare across
                     traces (`s` toggles; the header says which)
  --follow           keep reading as the file grows (`f` toggles)
  --plain            print the view once as text (the default when stdout is
                     not a terminal); --width N sets its width (default 100)
  --trace ID         only the trace whose id starts with ID

keys: arrows/j/k/g/G move, Enter/Space fold, [ ] collapse/expand all,
      / search, n/N next/previous match, t mode, s scale, f follow, ? help,
      q quit

Spans that did not end show "≥ elapsed (did not end)" and a bar ending in ▶:
elapsed up to the wall clock while following, else up to the file's last
timestamp. A bar that goes on past the edge of its range (in time mode, a
span that outlasts its bucket) ends in ▶ there (◀ at a cut start). Runs of
3 or more same-named siblings show as one row "name × N".
]],
}

local SPEC = {
  ["--sample"] = "value", ["--follow"] = "flag", ["--plain"] = "flag",
  ["--trace"] = "value", ["--width"] = "value", ["--scale"] = "value",
}

local function fail(msg, code)
  io.stderr:write("spanline view: ", msg, "\n")
  return code or 1
end

function view.run(argv)
  local opts, pos = args.parse(argv, SPEC)
  if not opts then return fail(pos, 2) end
  if #pos ~= 1 then return fail("expected one FILE (see spanline view --help)", 2) end
  local path = pos[1]
  local mode, interval = "logical", nil
  if opts.sample and opts.sample ~= "logical" then
    local ns, err = args.duration(opts.sample)
    if not ns then return fail(err, 2) end
    if ns <= 0 then return fail("--sample must be longer than 0", 2) end
    mode, interval = "time", ns
  end
  local scale = opts.scale or "trace"
  if scale ~= "trace" and scale ~= "global" then return fail("--scale must be trace or global", 2) end
  local width = 100
  if opts.width then
    width = tonumber(opts.width)
    if not width or width < 20 or width ~= math.floor(width) then
      return fail("--width must be an integer of at least 20", 2)
    end
  end
  local uv = require("luv")
  local plain = opts.plain or uv.guess_handle(1) ~= "tty" or uv.guess_handle(0) ~= "tty"

  -- printed once: no change list to keep
  local store = require("spanline.view.store").new({ trace = opts.trace, track = not plain })
  -- interactive: the reader always runs in follow mode so `f` can start
  -- following at any time; without --follow the app stops polling at the end
  local src, msg = require("spanline.view.source").open(path, { store = store, follow = not plain })
  if not src then return fail(spanfile.open_error(path, msg)) end

  if plain then
    local state
    repeat state = src:read(nil) until state ~= "more"
    local problem = spanfile.no_spans(path, store.records - store.metas, src.reader:bad_lines())
    src:close()
    if state == "error" then return fail(path .. ": " .. tostring(src.error_text)) end
    if problem then return fail(problem) end
    require("spanline.view.plain").render(store, { mode = mode, interval = interval, width = width,
      scale = scale })
    return 0
  end

  local a = require("spanline.view.app").new({
    store = store, source = src, mode = mode, interval = interval, follow = opts.follow, scale = scale,
  })
  local ok, err = a:run()
  src:close()
  if not ok then return fail(err) end
  -- ended by a signal: the shell convention 128 + signal number
  local SIGNALS = { sighup = 129, sigint = 130, sigterm = 143 }
  return SIGNALS[err] or 0
end

return view
