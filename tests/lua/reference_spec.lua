-- docs/reference.md stays true: every ```lua block in it runs (its
-- assertions check its own results), and every public function of the
-- tracer API, spanline.query, spanline.report and spanline.fuzz has a
-- heading there with an example that uses it (or, for plumbing, a line in
-- its "Internals" section), so new API cannot go undocumented.
local DOC = (os.getenv("SPANLINE_SOURCE_DIR") or ".") .. "/docs/reference.md"

local function read_doc()
  local f = assert(io.open(DOC, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- The doc as sections: { heading = text, line = n, blocks = { { code, line } } };
-- a section runs from one heading to the next.
local function sections(text)
  local out, cur, in_block, block = {}, { heading = "", line = 1, blocks = {} }, false, nil
  out[1] = cur
  local n = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if in_block then
      if line:match("^```%s*$") then
        in_block = false
        cur.blocks[#cur.blocks + 1] = block
      elseif block then
        block.code[#block.code + 1] = line
      end
    elseif line:match("^```") then
      in_block = true
      block = line:match("^```lua%s*$") and { code = {}, line = n + 1 } or nil
    elseif line:match("^#+ ") then
      cur = { heading = line, line = n, blocks = {} }
      out[#out + 1] = cur
    else
      cur.text = (cur.text or "") .. line .. "\n"
    end
  end
  return out
end

-- The public functions: { display = "tracer:start", key = "start" }, from
-- the modules themselves.
local function public_functions()
  local spanline = require("spanline")
  local query = require("spanline.query")
  local report = require("spanline.report")
  local fuzz = require("spanline.fuzz")
  local list = {}
  local function add(t, prefix, skip)
    local keys = {}
    for k, v in pairs(t) do
      if type(v) == "function" and type(k) == "string" and not k:match("^__") and not (skip and skip[k]) then
        keys[#keys + 1] = k
      end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do list[#list + 1] = { display = prefix .. k, key = k } end
  end
  add(spanline, "spanline.")
  add(spanline.coroutine, "spanline.coroutine.")
  add(spanline.context, "spanline.context.")
  add(spanline.core.tracer_methods, "tracer:")
  local t = spanline.tracer{ output = ":memory:" }
  local span = t:start("x")
  add(getmetatable(span).__index, "span:")
  span:finish()
  t:close()
  add(query, "query.")
  add(query.Q, "q:")
  add(getmetatable(query.from_spans({}):group_by("name")).__index, "groups:")
  add(report, "report.")
  add(fuzz, "fuzz.")
  add(fuzz.gen, "gen.")
  add(fuzz.gen.Gen, "g:")
  add(fuzz.program, "program.")
  add(fuzz.properties, "properties.")
  return list
end

local function escape(s) return (s:gsub("%p", "%%%0")) end

local doc = read_doc()
local secs = sections(doc)

describe("docs/reference.md", function()
  it("has examples", function()
    local n = 0
    for _, s in ipairs(secs) do n = n + #s.blocks end
    assert.is_true(n > 50, "only " .. n .. " lua blocks")
  end)

  for _, s in ipairs(secs) do
    for _, b in ipairs(s.blocks) do
      it("runs the example at line " .. b.line .. " (" .. s.heading:gsub("^#+ ", "") .. ")", function()
        -- padded so error messages carry the doc's line numbers
        local code = string.rep("\n", b.line - 1) .. table.concat(b.code, "\n")
        local env = setmetatable({ print = function() end }, { __index = _G })
        local searchers, create, wrap = #package.searchers, coroutine.create, coroutine.wrap
        local fn = assert(load(code, "@" .. DOC, "t", env))
        fn()
        collectgarbage()
        -- an example leaves no global state changed behind it
        assert.equal(searchers, #package.searchers, "a package searcher was left installed")
        assert.equal(create, coroutine.create, "coroutine.create was left patched")
        assert.equal(wrap, coroutine.wrap, "coroutine.wrap was left patched")
        for k in pairs(env) do
          assert.is_true(k == "print", "the example set the global '" .. tostring(k) .. "'")
        end
      end)
    end
  end

  it("documents every public function with an example that uses it", function()
    local internals = ""
    for _, s in ipairs(secs) do
      if s.heading:match("^## Internals") then internals = (s.text or "") end
    end
    local missing = {}
    for _, f in ipairs(public_functions()) do
      local named = escape("`" .. f.display) .. "[%(%{`]"
      local used = "[%.:]" .. escape(f.key) .. "[^%w_]"
      local section
      for _, s in ipairs(secs) do
        if s.heading:find(named) then
          section = s
          break
        end
      end
      if section then
        local example = false
        for _, b in ipairs(section.blocks) do
          if (table.concat(b.code, "\n") .. "\n"):find(used) then example = true end
        end
        if not example then missing[#missing + 1] = f.display .. " (no example using it)" end
      elseif not internals:find(named) then
        missing[#missing + 1] = f.display
      end
    end
    assert.same({}, missing)
  end)
end)
