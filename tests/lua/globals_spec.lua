-- Every spanline module loads without reading or writing an undeclared
-- global (style.md: no globals, ever).
describe("spanline modules", function()
  local root = (os.getenv("SPANLINE_SOURCE_DIR") or ".") .. "/lua"

  local function modules()
    local list = {}
    local p = io.popen('cd "' .. root .. '" && find spanline -name "*.lua" | sort')
    for path in p:lines() do
      local name = path:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      list[#list + 1] = name
    end
    p:close()
    return list
  end

  it("finds the modules", function()
    assert.is_true(#modules() > 3)
  end)

  -- Static check over every function body (not just the top level): no
  -- SETTABUP on _ENV at all, and GETTABUP only for Lua's standard globals.
  local STANDARD = {}
  for k in ([[_G _VERSION arg assert collectgarbage coroutine debug dofile error getmetatable io
    ipairs load loadfile math next os package pairs pcall print rawequal rawget rawlen rawset
    require select setmetatable string table tonumber tostring type utf8 warn xpcall]]):gmatch("%S+") do
    STANDARD[k] = true
  end

  for _, name in ipairs(modules()) do
    it("uses no undeclared global in " .. name .. " (luac listing)", function()
      local file = root .. "/" .. name:gsub("%.", "/") .. ".lua"
      if not io.open(file) then file = root .. "/" .. name:gsub("%.", "/") .. "/init.lua" end
      local p = io.popen("luac5.4 -l -l -p '" .. file .. "' 2>&1")
      local bad = {}
      for line in p:lines() do
        local op, var = line:match("(%u+TABUP)%s.-; _ENV \"([^\"]+)\"")
        if op == "SETTABUP" or (op == "GETTABUP" and not STANDARD[var]) then
          bad[#bad + 1] = op .. " " .. var .. " at " .. (line:match("%[(%d+)%]") or "?")
        end
      end
      p:close()
      assert.are.same({}, bad)
    end)
  end

  for _, name in ipairs(modules()) do
    it("loads " .. name .. " with strict globals", function()
      local touched = {}
      local strict = setmetatable({}, {
        __index = function(_, k)
          local v = _G[k]
          if v == nil then touched[#touched + 1] = "read " .. tostring(k) end
          return v
        end,
        __newindex = function(_, k)
          touched[#touched + 1] = "wrote " .. tostring(k)
        end,
      })
      local file = root .. "/" .. name:gsub("%.", "/") .. ".lua"
      local f = io.open(file) and file or (root .. "/" .. name:gsub("%.", "/") .. "/init.lua")
      local chunk = assert(loadfile(f, "t", strict))
      local ok, err = pcall(chunk, name)
      -- A module may fail to load for lack of a terminal and so on; globals are what we check.
      if not ok then print("note: " .. name .. ": " .. tostring(err)) end
      assert.are.same({}, touched)
    end)
  end
end)
