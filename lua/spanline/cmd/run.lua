-- run.lua: `spanline run SCRIPT.lua [ARGS...]`, trace a program without editing it.
--
-- The program runs in this Lua state, as lua5.4 would run it (same `arg`,
-- same `...`, same error message and exit status), with a tracer installed as
-- spanline.default() and matching modules instrumented as they are required.
-- The trace is closed on every way out: normal end, an error, or os.exit
-- (wrapped so that it closes the tracer before the process goes).

local args = require("spanline.cli.args")

local USAGE = [[
usage: spanline run [options] SCRIPT.lua [ARGS...]     (SCRIPT `-`: stdin)

Runs a Lua program with a tracer installed as spanline.default(). The
program's output, `arg` and exit status are those of `lua5.4 SCRIPT.lua ARGS...`;
the trace is flushed even when the program raises an error or calls os.exit.

options:
  -o, --output FILE      where spans go: a path, `-` or `stderr`, or `fd:N`
                         (default: <script name>.spans.jsonl in the current
                         directory, .spans.msgpack with --format msgpack)
  --format FMT           jsonl (default) or msgpack
  --instrument PATTERN   trace every function of the modules whose names match
                         the Lua pattern (whole name, e.g. 'inventory.*'), as
                         they are required: nested tables and classes too;
                         repeatable
  --sample P             keep this fraction of traces, 0 <= P <= 1 (default 1)
  --service NAME         the service name in the trace (default: script name)
  --flush MODE           batch (default) or always
]]

local SPEC = {
  ["--output"] = "value", ["--format"] = "value", ["--instrument"] = "list",
  ["--sample"] = "value", ["--service"] = "value", ["--flush"] = "value",
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

-- The program's `arg`: arg[0] = script, arg[1..] = its arguments, negative
-- indices = everything before the script on the command line (as lua5.4 does).
local function program_arg(rest, script_pos)
  local prefix = {}
  local g = rawget(_G, "arg")
  if type(g) == "table" and g[script_pos + 1] == rest[script_pos] and g[#g] == rest[#rest] then
    local lo = 0
    while g[lo - 1] ~= nil do lo = lo - 1 end
    for i = lo, script_pos do prefix[#prefix + 1] = g[i] end
  else
    prefix = { "spanline", "run" }
    for i = 1, script_pos - 1 do prefix[#prefix + 1] = rest[i] end
  end
  local a = {}
  for i = 1, #prefix do a[i - #prefix - 1] = prefix[i] end
  for i = script_pos, #rest do a[i - script_pos] = rest[i] end
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

local run = {
  program = true,   -- arguments after the script belong to it (cli: --help)
  summary = "run a Lua program with tracing installed (spanline.default())",
  usage = USAGE,
}

function run.run(argv)
  local opts, positional = args.parse(argv, SPEC)
  if not opts then return usage_error(positional) end
  local script = positional[1]
  if not script then return usage_error("missing SCRIPT.lua (see `spanline run --help`)") end

  local format = opts.format or "jsonl"
  if format ~= "jsonl" and format ~= "msgpack" then
    return usage_error("bad --format '" .. format .. "' (jsonl or msgpack expected)")
  end
  if opts.flush and opts.flush ~= "batch" and opts.flush ~= "always" then
    return usage_error("bad --flush '" .. opts.flush .. "' (batch or always expected)")
  end
  local sample
  if opts.sample then
    sample = tonumber(opts.sample)
    if not sample or sample < 0 or sample > 1 then
      return usage_error("bad --sample '" .. opts.sample .. "' (a number from 0 to 1 expected)")
    end
  end
  local instrument = require("spanline.instrument")
  for _, pattern in ipairs(opts.instrument or {}) do
    local valid, why = instrument.check_pattern(pattern)
    if not valid then return usage_error("bad --instrument '" .. pattern .. "': " .. why) end
  end
  local output, oerr = parse_output(opts.output or (basename(script) .. ".spans." .. format))
  if not output then return usage_error(oerr) end

  local spanline = require("spanline")
  local config = { output = output, format = format, service = opts.service or basename(script),
                   flush = opts.flush }
  if sample then config.sample = sample end
  local tracer, terr = spanline.tracer(config)
  if not tracer then
    io.stderr:write("spanline run: ", tostring(terr), "\n")
    return 1
  end

  local previous_default = spanline.set_default(tracer)
  -- An unmodified program makes its coroutines with coroutine.create/wrap:
  -- patched, they start under the span current where they were made.
  local patched = spanline.patch_coroutines ~= nil
  if patched then spanline.patch_coroutines() end
  local undos = {}
  for _, pattern in ipairs(opts.instrument or {}) do
    undos[#undos + 1] = instrument.instrument_require(pattern, tracer)
  end

  local closed = false
  local function close_tracer()
    if closed then return end
    closed = true
    tracer:close()
  end

  local real_exit = os.exit
  -- os.exit skips Lua's finalizers (unless its second argument is true), so
  -- the program's call must close the trace first.
  os.exit = function(...)
    close_tracer()
    return real_exit(...)
  end
  local saved_arg = rawget(_G, "arg")
  local script_pos = #argv - #positional + 1
  rawset(_G, "arg", program_arg(argv, script_pos))

  local status = 0
  local chunk, lerr = loadfile(script ~= "-" and script or nil)   -- "-": stdin, as lua5.4
  if not chunk then
    io.stderr:write("lua5.4: ", lerr, "\n")
    status = 1
  else
    local ok, err = xpcall(chunk, message_handler, table.unpack(positional, 2))
    if not ok then
      io.stdout:flush()
      io.stderr:write("lua5.4: ", tostring(err), "\n")
      status = 1
    end
  end
  io.stdout:flush()

  close_tracer()
  os.exit = real_exit
  rawset(_G, "arg", saved_arg)
  for i = #undos, 1, -1 do undos[i]() end
  if patched and spanline.unpatch_coroutines then spanline.unpatch_coroutines() end
  spanline.set_default(previous_default)
  return status
end

return run
