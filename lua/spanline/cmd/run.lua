-- run.lua: `spanline run SCRIPT.lua [ARGS...]`, trace a program without editing it.
--
-- The program runs in this Lua state as `lua5.4 SCRIPT ARGS` would run it:
-- the same `arg` (negative indices included: the interpreter, so a program
-- that re-runs itself gets lua5.4), the same `...`, error message and exit
-- status. A tracer is installed as spanline.default() and the modules named
-- by --instrument are traced as they are required, by a call/return hook
-- that replaces no function (or, with --wrap, by wrappers). The trace is
-- closed on every way out: the program's end, an error, os.exit (the
-- tracer's exit handler), Ctrl-C (lua5.4's "interrupted!" error), SIGTERM
-- and SIGHUP (closed, then the process dies of the signal).

local args = require("spanline.cli.args")
local glob = require("spanline.instrument.glob")

local USAGE = [[
usage: spanline run [options] SCRIPT.lua [ARGS...]     (SCRIPT `-`: stdin)

Runs a Lua program with a tracer installed as spanline.default(). The
program's output, `arg` and exit status are those of `lua5.4 SCRIPT.lua ARGS...`;
the trace is flushed even when the program raises an error, calls os.exit
or gets SIGINT, SIGTERM or SIGHUP. Options end at SCRIPT: what follows is
the program's.

options:
  -o, --output FILE      where spans go: a path, `-` or `stderr`, or `fd:N`
                         (default: <script name>.spans.jsonl in the current
                         directory, .spans.msgpack with --format msgpack)
  --append               add to FILE (default: a run starts it anew)
  --format FMT           jsonl (default) or msgpack
  --instrument PATTERN   trace every function of the modules PATTERN names,
                         as they are required (nested tables and classes
                         too); repeatable. PATTERN is a module name or a
                         glob: 'app.*' (app and its submodules), 'app.**'
                         (every depth); `*` stops at a dot, `**` does not
  --wrap                 trace by wrapping the functions (a little cheaper;
                         callees see a C frame in debug.getinfo and error
                         levels) instead of the default call/return hook
                         that changes nothing the program can see
  --sample P             keep this fraction of traces, 0 <= P <= 1 (default 1)
  --service NAME         the service name in the trace (default: script name)
  --flush MODE           batch (default) or always
]]

local SPEC = {
  ["--output"] = "value", ["--format"] = "value", ["--instrument"] = "list",
  ["--sample"] = "value", ["--service"] = "value", ["--flush"] = "value",
  ["--wrap"] = "flag", ["--append"] = "flag",
  aliases = { ["-o"] = "--output" },
  stop_at_positional = 1,
}

local function usage_error(msg)
  io.stderr:write("spanline run: ", msg, "\n")
  return 2
end

-- "-" / "stderr" -> io.stderr, "fd:N" -> N, anything else is a path.
local function parse_output(text)
  if text == "-" or text == "stderr" then return io.stderr end
  local fd = text:match("^fd:(%d+)$")
  if fd then return math.tointeger(tonumber(fd)) end
  if text:match("^fd:") then return nil, "bad --output '" .. text .. "' (fd:N expected)" end
  return text
end

local function basename(path)
  if path == "-" then return "stdin" end
  return ((path:match("([^/]+)$") or path):gsub("%.lua$", ""))
end

-- A new run starts its trace file anew: an existing regular file is
-- emptied (never a device, a pipe or a terminal the path may name).
local function start_anew(path)
  if path:match("^/dev/") or path:match("^/proc/") then return end
  local ok, uv = pcall(require, "luv")
  if ok then
    local st = uv.fs_stat(path)
    if not st or st.type ~= "file" then return end
  end
  local f = io.open(path, "r+b")
  if not f then return end
  local seekable = f:seek("end") ~= nil
  f:close()
  if seekable then
    f = io.open(path, "wb")
    if f then f:close() end
  end
end

-- The program's `arg`: arg[0] = script, arg[1..] = its arguments, and the
-- negative indices lua5.4 gave spanline itself (the interpreter and its
-- own options), as `lua5.4 SCRIPT ARGS` gives them.
local function program_arg(script, script_args)
  local a = {}
  local g = rawget(_G, "arg")
  if type(g) == "table" then
    local i = -1
    while g[i] ~= nil do
      a[i] = g[i]
      i = i - 1
    end
  end
  a[0] = script
  for i = 1, script_args.n do a[i] = script_args[i] end
  return a
end

-- Like lua.c's msghandler: a traceback for string errors, the __tostring of
-- an error object as is, a description of any other value.
local function message_handler(err)
  if type(err) ~= "string" then
    local mt = getmetatable(err)
    if mt and mt.__tostring then
      local ok, s = pcall(tostring, err)
      if ok and type(s) == "string" then return s end
    end
    err = string.format("(error object is a %s value)", type(err))
  end
  local tb = debug.traceback(err, 2)
  -- Cut spanline's own frames (everything from the xpcall that runs the
  -- program down), so the traceback looks like lua5.4's.
  local cut = tb:find("\n[^\n]*%[C%]: in function 'xpcall'")
  if cut then tb = tb:sub(1, cut - 1) .. "\n\t[C]: in ?" end
  return tb
end

-- "--instrument 'x' matched no module" for each pattern still unmatched.
local function unmatched_note(registrations)
  local lines = {}
  for _, reg in ipairs(registrations) do
    if #reg.modules == 0 then
      lines[#lines + 1] = "spanline run: --instrument '" .. reg.pattern .. "' matched no module\n"
    end
  end
  return table.concat(lines)
end

local run = {
  program = true,   -- arguments after the script belong to it (cli: --help)
  summary = "run a Lua program with tracing installed (spanline.default())",
  usage = USAGE,
}

-- Checks the options; returns a config table or nil, message.
local function configure(opts, script)
  local format = opts.format or "jsonl"
  if format ~= "jsonl" and format ~= "msgpack" then
    return nil, "bad --format '" .. format .. "' (jsonl or msgpack expected)"
  end
  if opts.flush and opts.flush ~= "batch" and opts.flush ~= "always" then
    return nil, "bad --flush '" .. opts.flush .. "' (batch or always expected)"
  end
  local config = { format = format, service = opts.service or basename(script), flush = opts.flush }
  if opts.sample then
    local sample = tonumber(opts.sample)
    if not sample or sample < 0 or sample > 1 then
      return nil, "bad --sample '" .. opts.sample .. "' (a number from 0 to 1 expected)"
    end
    config.sample = sample
  end
  for _, pattern in ipairs(opts.instrument or {}) do
    local valid, why = glob.check(pattern)
    if not valid then return nil, "bad --instrument: " .. why end
  end
  local output, oerr = parse_output(opts.output or (basename(script) .. ".spans." .. format))
  if not output then return nil, oerr end
  config.output = output
  return config
end

function run.run(argv)
  local opts, positional = args.parse(argv, SPEC)
  if not opts then return usage_error(positional) end
  local script = positional[1]
  if not script then return usage_error("missing SCRIPT.lua (see `spanline run --help`)") end
  local config, cerr = configure(opts, script)
  if not config then return usage_error(cerr) end

  -- The program first: a script that cannot be loaded leaves no trace file.
  local chunk, lerr = loadfile(script ~= "-" and script or nil)   -- "-": stdin, as lua5.4
  if not chunk then
    io.stderr:write("lua5.4: ", lerr, "\n")
    return 1
  end

  if type(config.output) == "string" and not opts.append then start_anew(config.output) end
  local spanline = require("spanline")
  local core = require("spanline.core")
  local tracer, terr = spanline.tracer(config)
  if not tracer then
    io.stderr:write("spanline run: ", tostring(terr), "\n")
    return 1
  end

  local previous_default = spanline.set_default(tracer)
  local mode = opts.wrap and "wrap" or "hook"
  -- Wrap mode: coroutines made with coroutine.create/wrap start under the
  -- span current where they were made, by patching those two; the hook does
  -- that by itself.
  local patched = mode == "wrap" and spanline.patch_coroutines()
  local undos, registrations = {}, {}
  local function note_unmatched() core.exit_note(unmatched_note(registrations)) end
  for _, pattern in ipairs(opts.instrument or {}) do
    local undo, reg = spanline.instrument_require(pattern, tracer, { mode = mode })
    undos[#undos + 1] = undo
    registrations[#registrations + 1] = reg
    reg.on_match = note_unmatched
  end
  note_unmatched()   -- printed at exit, os.exit included, unless matched by then

  local closed = false
  local function close_tracer()
    if closed then return end
    closed = true
    tracer:close()
  end
  core.on_signals(close_tracer)

  local saved_arg = rawget(_G, "arg")
  local script_args = table.pack(table.unpack(positional, 2))
  rawset(_G, "arg", program_arg(script, script_args))

  local status = 0
  local ok, err = xpcall(chunk, message_handler, table.unpack(script_args, 1, script_args.n))
  if not ok then
    -- spans of frames the error left through unseen (lua.c's SIGINT
    -- handler takes the hook off before it raises "interrupted!")
    core.hook_unwind(type(err) == "string" and err:match("^[^\n]*") or err)
    io.stdout:flush()
    io.stderr:write("lua5.4: ", tostring(err), "\n")
    status = 1
  end
  io.stdout:flush()

  core.on_signals(nil)
  close_tracer()
  rawset(_G, "arg", saved_arg)
  for i = #undos, 1, -1 do undos[i]() end
  if patched then spanline.unpatch_coroutines() end
  spanline.set_default(previous_default)
  core.exit_note(nil)
  io.stderr:write(unmatched_note(registrations))
  return status
end

return run
