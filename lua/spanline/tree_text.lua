-- tree_text.lua: span trees as plain text with box-drawing guides
-- (├─ └─ │), shared by `spanline tree` and the viewer's logical mode.
--
-- rows() flattens trees into { span, prefix, depth, last } so a caller can
-- render or page them; line() is the text after the prefix.

local report = require("spanline.report")

local tree_text = {}

local function sorted_children(s)
  local kids = s.children or {}
  local copy = {}
  for i, c in ipairs(kids) do copy[i] = c end
  table.sort(copy, function(a, b)
    local x, y = a.start or 0, b.start or 0
    if x ~= y then return x < y end
    return (a.id or "") < (b.id or "")
  end)
  return copy
end

-- The label of one span: name, duration (or "open"), status marks.
function tree_text.line(s)
  local parts = { s.name or ("<" .. (s.id or "?") .. ">") }
  if s.status == "open" or s.finish == nil then
    parts[#parts + 1] = "(open)"
  else
    parts[#parts + 1] = report.duration(s.dur)
  end
  if s.status == "error" then
    parts[#parts + 1] = "ERROR" .. (s.error and (": " .. s.error) or "")
  elseif s.status == "abandoned" then
    parts[#parts + 1] = "abandoned"
  end
  if s.orphan then parts[#parts + 1] = "(orphan)" end
  if s.remote_parent then parts[#parts + 1] = "(remote parent " .. tostring(s.parent) .. ")" end
  return table.concat(parts, "  ")
end

-- Rows of the trees under roots, depth first, children by start time.
-- opts.max_depth limits the depth shown.
function tree_text.rows(roots, opts)
  opts = opts or {}
  local rows = {}
  local max_depth = opts.max_depth
  local function walk(s, prefix, child_prefix, depth, last)
    rows[#rows + 1] = { span = s, prefix = prefix, depth = depth, last = last }
    if max_depth and depth >= max_depth then return end
    local kids = sorted_children(s)
    for i, c in ipairs(kids) do
      local last = i == #kids
      walk(c, child_prefix .. (last and "└─ " or "├─ "), child_prefix .. (last and "   " or "│  "), depth + 1, last)
    end
  end
  for i, r in ipairs(roots) do walk(r, "", "", 0, i == #roots) end
  return rows
end

-- The whole text, one line per span.
function tree_text.render(roots, opts)
  local out = {}
  for _, row in ipairs(tree_text.rows(roots, opts)) do
    out[#out + 1] = row.prefix .. tree_text.line(row.span)
  end
  if #out == 0 then return "" end
  return table.concat(out, "\n") .. "\n"
end

return tree_text
