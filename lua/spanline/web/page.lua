-- web/page.lua: the one HTML page of the export and of `spanline serve`,
-- made from the plain files in web/ (page.html, style.css, js/*.js).
--
-- Key idea: web/page.html works as it is in a browser during development
-- (it links its stylesheet and scripts); here every <link rel="stylesheet">
-- and <script src> of it is replaced by the file's text, and the empty data
-- block by the spans' JSON, so the result needs nothing but itself: no
-- network, no build step. The files are found next to this module when
-- installed (spanline/web/assets/) or in the source tree (web/);
-- SPANLINE_WEB_DIR overrides both.

local page = {}

local function readable(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- The directory holding page.html, or nil and a message.
function page.assets_dir()
  local env = os.getenv("SPANLINE_WEB_DIR")
  if env and env ~= "" then
    if readable(env .. "/page.html") then return env end
    return nil, "SPANLINE_WEB_DIR: no page.html in " .. env
  end
  local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
  for _, dir in ipairs({ here .. "/assets", here .. "/../../../web" }) do
    if readable(dir .. "/page.html") then return dir end
  end
  return nil, "cannot find the page's files (page.html) near " .. here
end

local function read_file(path)
  local f, msg, code = io.open(path, "rb")
  if not f then return nil, msg, code end
  local text = f:read("a")
  f:close()
  return text
end

local template  -- the page with its files inlined and a hole for the data

-- Inlines the page's stylesheet and scripts; returns the text before and
-- after the data block, or nil, message.
local function build()
  local dir, msg = page.assets_dir()
  if not dir then return nil, msg end
  local html, err = read_file(dir .. "/page.html")
  if not html then return nil, err end
  local problem
  local function inline(kind, name)
    if problem then return "" end
    if name:find("%.%.") or name:find("^/") then
      problem = "page.html: bad file name " .. name
      return ""
    end
    local text, e = read_file(dir .. "/" .. name)
    if not text then
      problem = e
      return ""
    end
    -- The text goes inside <script> or <style>: it must not close it.
    if text:lower():find("</" .. kind, 1, true) then
      problem = name .. " contains </" .. kind
      return ""
    end
    return "<" .. kind .. ">\n" .. text .. "</" .. kind .. ">"
  end
  html = html:gsub('<link rel="stylesheet" href="([^"]+)">', function(name) return inline("style", name) end)
  html = html:gsub('<script src="([^"]+)"></script>', function(name) return inline("script", name) end)
  if problem then return nil, problem end
  local open_tag = '<script type="application/json" id="spanline-data">'
  local a, b = html:find(open_tag .. "</script>", 1, true)
  if not a then return nil, "page.html has no data block" end
  return { head = html:sub(1, a + #open_tag - 1), tail = html:sub(b - #"</script>" + 1) }
end

-- The page around `data_json` (already escaped for a script block; see
-- web/data.lua), or nil, message. opts.title replaces the <title>.
function page.render(data_json, opts)
  opts = opts or {}
  if not template then
    local t, msg = build()
    if not t then return nil, msg end
    template = t
  end
  local head = template.head
  if opts.title then
    local title = opts.title:gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" })
    head = head:gsub("<title>[^<]*</title>", function() return "<title>" .. title .. "</title>" end, 1)
  end
  return head .. data_json .. template.tail
end

return page
