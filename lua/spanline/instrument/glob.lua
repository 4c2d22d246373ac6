-- instrument/glob.lua: the one syntax for naming modules to instrument
-- (`spanline run --instrument`, spanline.instrument_require): globs over
-- dotted module names.
--
--   app          the module app only
--   app.*        app and its direct submodules (app.db; not app.db.pool)
--   app.**       app and every module below it, at any depth
--   app.*.util   one level in between; `*` never crosses a dot, `**` does
--
-- Key idea: a pattern names a package the way require names it, so the
-- package itself (its init.lua) belongs to `app.*`. Lua patterns are not
-- accepted (`^app%.` is refused with a hint rather than matching nothing).

local glob = {}

local LUA_MAGIC = "[%^%$%%%[%]%(%)%?%+]"

-- true, or nil and a one-line reason.
function glob.check(p)
  if type(p) ~= "string" or p == "" then return nil, "empty module pattern" end
  if p:find(LUA_MAGIC) then
    return nil, "'" .. p .. "' looks like a Lua pattern; module patterns are globs:"
      .. " 'app', 'app.*' (app and its submodules), 'app.**' (at any depth)"
  end
  if p:find("%*%*%*") then return nil, "'" .. p .. "': '***' (use '*' or '**')" end
  if p:find("^%.") or p:find("%.$") or p:find("%.%.") then
    return nil, "'" .. p .. "': empty name between dots"
  end
  return true
end

-- A matcher: function(module_name) -> boolean. p must pass check().
function glob.compile(p)
  local body = p:gsub("[%-%.]", "%%%0")
                :gsub("%*%*", "\0")
                :gsub("%*", "[^.]*")
                :gsub("%z", ".*")
  local full = "^" .. body .. "$"
  local package = p:match("^(.-)%.%*%*?$")   -- `app.*` / `app.**` also name `app`
  return function(name)
    return name == package or name:find(full) ~= nil
  end
end

return glob
