-- cli/init.lua: `spanline <command> [args]`, dispatched to spanline.cmd.<command>.
--
-- Each command lives in its own module in spanline/cmd/ returning
-- { summary, usage, run }; the command list is that directory, so a command
-- is listed exactly when it exists. This file only finds it, turns misuse
-- into a one-line message and exit 2, and keeps Lua tracebacks away from
-- users (SPANLINE_DEBUG=1 shows them). Helpers shared by commands live
-- beside it in spanline/cli/.

local cli = {}

-- The commands: every spanline/cmd/*.lua next to where `run` is found.
local function command_names()
  local path = package.searchpath("spanline.cmd.run", package.path)
  local names = {}
  if path then
    local uv = require("luv")
    local dir = path:gsub("run%.lua$", "")
    local scan = uv.fs_scandir(dir)
    while scan do
      local file = uv.fs_scandir_next(scan)
      if not file then break end
      local name = file:match("^([%a_]+)%.lua$")
      if name then names[#names + 1] = name end
    end
  end
  table.sort(names)
  return names
end
cli.command_names = command_names

local function load_command(name)
  if not name:match("^[%a_]+$") then return nil end
  local ok, mod = pcall(require, "spanline.cmd." .. name)
  if ok and type(mod) == "table" and mod.run then return mod end
  if not ok and not tostring(mod):find("module 'spanline.cmd." .. name .. "' not found", 1, true) then
    error(mod, 0)
  end
  return nil
end

local function usage(out)
  out:write("usage: spanline <command> [options]\n\ncommands:\n")
  for _, name in ipairs(command_names()) do
    local mod = load_command(name)
    if mod then out:write(string.format("  %-9s %s\n", name, mod.summary or "")) end
  end
  out:write("\n`spanline <command> --help` shows a command's options.\n")
end

-- The command a mistyped name most likely meant, or nil.
function cli.suggest(name)
  return require("spanline.text").suggest(name, command_names())
end

-- Does the user ask for help anywhere among the command's own arguments?
-- Scanning stops at "--", and for commands that run a program (mod.program)
-- at the first positional: what follows belongs to the program.
local function wants_help(mod, rest)
  for _, a in ipairs(rest) do
    if a == "--" then return false end
    if a == "-h" or a == "--help" then return true end
    if mod.program and a:sub(1, 1) ~= "-" then return false end
  end
  return false
end

function cli.main(argv)
  argv = argv or {}
  local name = argv[1]
  if name == nil or name == "-h" or name == "--help" or name == "help" then
    usage(name and io.stdout or io.stderr)
    return name and 0 or 2
  end
  if name == "--version" then
    io.stdout:write("spanline ", require("spanline.core").version, "\n")
    return 0
  end
  local mod = load_command(name)
  if not mod then
    local guess = cli.suggest(name)
    if guess then
      io.stderr:write("spanline: unknown command '", name, "'; did you mean '", guess, "'?\n")
    else
      io.stderr:write("spanline: unknown command '", name, "'\n")
      usage(io.stderr)
    end
    return 2
  end
  local rest = table.move(argv, 2, #argv, 1, {})
  if wants_help(mod, rest) then
    io.stdout:write(mod.usage or ("usage: spanline " .. name .. "\n"))
    return 0
  end
  local ok, status = xpcall(mod.run, function(err)
    if os.getenv("SPANLINE_DEBUG") then return debug.traceback(err, 2) end
    return err
  end, rest)
  -- a progress line still drawn goes before anything else is written
  require("spanline.cli.progress").stop_all()
  if not ok then
    -- an error object may carry its exit status (a --where expression
    -- over its budget: 2)
    local code = type(status) == "table" and math.type(status.exit) == "integer" and status.exit or 1
    local msg = tostring(status):gsub("^[^:]*%.lua:%d+: ", "")
    -- messages may quote the stream (a span name in an error): terminal-safe
    io.stderr:write("spanline ", name, ": ", require("spanline.text").clean(msg), "\n")
    return code
  end
  return tonumber(status) or 0
end

return cli
