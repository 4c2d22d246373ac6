-- export/init.lua: spanline.export(path_or_query, format, out, opts): spans
-- into the formats other tools read, one module per format.
--
-- Key idea: a format is a module spanline.export.<format, '-' as '_'>
-- returning { summary = "one line", export = function(q, out, opts) }, so
-- the list of formats is the files beside this one. q is a spanline.query
-- query (records or spans; an exporter takes what it needs), out anything
-- with :write(...), opts the options (include_open, service, ...). Exporters
-- stream: memory stays bounded by the open spans (folded: the distinct
-- stacks), whatever the file size.

local query = require("spanline.query")

local export = {}

local function module_name(format)
  return "spanline.export." .. format:gsub("%-", "_")
end

-- The formats: every module beside this one that has an export function.
function export.formats()
  local path = package.searchpath("spanline.export.init", package.path)
  local names = {}
  if path then
    local dir = path:gsub("init%.lua$", "")
    local ok, uv = pcall(require, "luv")
    local scan = ok and uv.fs_scandir(dir)
    while scan do
      local file = uv.fs_scandir_next(scan)
      if not file then break end
      local name = file:match("^([%a_]+)%.lua$")
      if name and name ~= "init" then
        local format = name:gsub("_", "-")
        if export.load(format) then names[#names + 1] = format end
      end
    end
  end
  table.sort(names)
  return names
end

-- The module of a format, or nil and a message.
function export.load(format)
  if type(format) ~= "string" or not format:match("^[%a][%w%-]*$") then
    return nil, "unknown format '" .. tostring(format) .. "'"
  end
  local name = module_name(format)
  local ok, mod = pcall(require, name)
  if ok and type(mod) == "table" and type(mod.export) == "function" then return mod end
  if not ok and not tostring(mod):find("module '" .. name .. "' not found", 1, true) then
    error(mod, 0)
  end
  return nil, "unknown format '" .. format .. "'"
end

-- spanline.export(path_or_query, format, out?, opts?) -> true | nil, message, code.
-- out defaults to io.stdout.
function export.run(src, format, out, opts)
  if type(format) ~= "string" then
    error("bad argument #2 to 'export' (format string expected, got " .. type(format) .. ")", 2)
  end
  out = out or io.stdout
  if type(out) ~= "table" and type(out) ~= "userdata" then
    error("bad argument #3 to 'export' (an output with :write expected, got " .. type(out) .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #4 to 'export' (table expected, got " .. type(opts) .. ")", 2)
  end
  local mod, msg = export.load(format)
  if not mod then return nil, msg, "EINVAL" end
  local q = src
  if type(src) == "string" then
    local code
    q, msg, code = query.open(src, { raw = true })
    if not q then return nil, msg, code end
  elseif type(src) ~= "table" or not src.pass then
    error("bad argument #1 to 'export' (path or query expected, got " .. type(src) .. ")", 2)
  end
  return mod.export(q, out, opts or {})
end

return export
