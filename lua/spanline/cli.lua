-- cli.lua: `spanline <command> [args]`, dispatched to spanline.cmd.<command>.
--
-- Each command lives in its own module returning { summary, usage, run };
-- this file only finds it, turns misuse into a one-line message and exit 2,
-- and keeps Lua tracebacks away from users (SPANLINE_DEBUG=1 shows them).

local cli = {}

local COMMANDS = { "run", "view", "tree", "report", "filter", "export", "convert", "fuzz", "bench" }

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
  for _, name in ipairs(COMMANDS) do
    local mod = load_command(name)
    if mod then out:write(string.format("  %-9s %s\n", name, mod.summary or "")) end
  end
  out:write("\n`spanline <command> --help` shows a command's options.\n")
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
    io.stderr:write("spanline: unknown command '", name, "'\n")
    usage(io.stderr)
    return 2
  end
  local rest = table.move(argv, 2, #argv, 1, {})
  if rest[1] == "-h" or rest[1] == "--help" then
    io.stdout:write(mod.usage or ("usage: spanline " .. name .. "\n"))
    return 0
  end
  local ok, status = xpcall(mod.run, function(err)
    if os.getenv("SPANLINE_DEBUG") then return debug.traceback(err, 2) end
    return err
  end, rest)
  if not ok then
    local msg = tostring(status):gsub("^[^:]*%.lua:%d+: ", "")
    io.stderr:write("spanline ", name, ": ", msg, "\n")
    return 1
  end
  return tonumber(status) or 0
end

return cli
