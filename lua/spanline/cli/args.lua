-- args.lua: the small option parser every `spanline <cmd>` shares.
--
-- A spec names each flag once with its kind ("flag", "value", "list"); the
-- parser returns options and positionals, or nil and a one-line message that
-- the command prints before exiting with status 2.

local args = {}

-- spec: { ["--where"] = "value", ["--follow"] = "flag", ["--instrument"] = "list",
--         aliases = { ["-o"] = "--output" }, stop_at_positional = n }
-- stop_at_positional: after n positionals every remaining argument is
-- positional (for `spanline run SCRIPT ARGS...`).
function args.parse(argv, spec)
  local opts, positional = {}, {}
  local aliases = spec.aliases or {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if spec.stop_at_positional and #positional >= spec.stop_at_positional then
      positional[#positional + 1] = a
    elseif a == "--" then
      for j = i + 1, #argv do positional[#positional + 1] = argv[j] end
      break
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      local name, inline = a:match("^(%-%-?[^=]+)=(.*)$")
      name = name or a
      name = aliases[name] or name
      local kind = spec[name]
      if not kind then
        return nil, "unknown option " .. name
      end
      local key = name:gsub("^%-+", ""):gsub("%-", "_")
      if kind == "flag" then
        if inline then return nil, "option " .. name .. " takes no value" end
        opts[key] = true
      else
        local value = inline
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, "option " .. name .. " needs a value" end
        end
        if kind == "list" then
          opts[key] = opts[key] or {}
          table.insert(opts[key], value)
        else
          opts[key] = value
        end
      end
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  return opts, positional
end

-- The integer value of option `key` (nil when absent), or nil and a message
-- when it is not an integer >= min ("--limit needs an integer >= 0").
function args.integer(opts, key, min)
  local text = opts[key]
  if text == nil then return nil end
  local n = math.tointeger(tonumber(text))
  if not n or n < min then
    return nil, "--" .. key:gsub("_", "-") .. " needs an integer >= " .. min
  end
  return n
end

-- Parses "5ms", "1.5s", "250us", "100ns", "2m", "1h" or a bare number of
-- nanoseconds; returns integer nanoseconds or nil, message.
local UNITS = { ns = 1, us = 1e3, ["µs"] = 1e3, ms = 1e6, s = 1e9, m = 60e9, h = 3600e9 }
function args.duration(text)
  if type(text) == "number" then return math.floor(text) end
  local num, unit = tostring(text):match("^%s*([%d%.]+)%s*(%a*)%s*$")
  local n = tonumber(num)
  if not n then return nil, "bad duration '" .. tostring(text) .. "'" end
  local scale = unit == "" and 1 or UNITS[unit]
  if not scale then return nil, "bad duration unit '" .. unit .. "' in '" .. text .. "'" end
  return math.floor(n * scale + 0.5)
end

return args
