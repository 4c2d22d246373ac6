-- tree_text.lua: span trees as plain text with box-drawing guides
-- (├─ └─ │), shared by `spanline tree` and the viewer's logical mode.
--
-- rows() flattens trees into { span, prefix, depth, last } so a caller can
-- render or page them; line() is the text after the prefix. Walks are
-- iterative and the guides are capped (MAX_GUIDES), so any depth works.

local report = require("spanline.report")
local text = require("spanline.text")

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

-- The label of one span: name, duration (or "open"), status marks. Text
-- from the stream is made safe for a terminal (text.clean).
function tree_text.line(s)
  local parts = { text.clean(s.name or ("<" .. (s.id or "?") .. ">")) }
  if s.status == "open" or s.finish == nil then
    parts[#parts + 1] = "(open)"
  elseif text.bad_times(s) then
    parts[#parts + 1] = "(bad timestamps: end before start)"
  else
    parts[#parts + 1] = report.duration(s.dur)
  end
  if s.status == "error" then
    parts[#parts + 1] = "ERROR" .. (s.error and (": " .. text.clean(tostring(s.error))) or "")
  elseif s.status == "abandoned" then
    parts[#parts + 1] = "abandoned"
  end
  if s.orphan then parts[#parts + 1] = "(orphan)" end
  if s.remote_parent then parts[#parts + 1] = "(remote parent " .. text.clean(tostring(s.parent)) .. ")" end
  if s.cycle then parts[#parts + 1] = "(parent cycle cut: parent " .. text.clean(tostring(s.parent)) .. ")" end
  return table.concat(parts, "  ")
end

-- Guides are drawn for this many levels; deeper rows keep the guides of
-- that level plus a "[depth N]" mark, so a 10^5-deep chain costs linear
-- text, not quadratic.
tree_text.MAX_GUIDES = 64

-- Rows of the trees under roots, depth first, children by start time.
-- opts.max_depth limits the depth shown. Iterative (no recursion limit).
function tree_text.rows(roots, opts)
  opts = opts or {}
  local rows = {}
  local max_depth = opts.max_depth
  local max_guides = opts.max_guides or tree_text.MAX_GUIDES
  -- stack entries: span, prefix, child_prefix, depth, last
  local st_s, st_p, st_c, st_d, st_l, n = {}, {}, {}, {}, {}, 0
  for i = #roots, 1, -1 do
    n = n + 1
    st_s[n], st_p[n], st_c[n], st_d[n], st_l[n] = roots[i], "", "", 0, i == #roots
  end
  while n > 0 do
    local s, prefix, child_prefix, depth, last = st_s[n], st_p[n], st_c[n], st_d[n], st_l[n]
    st_s[n], st_p[n], st_c[n], st_d[n], st_l[n] = nil, nil, nil, nil, nil
    n = n - 1
    rows[#rows + 1] = { span = s, prefix = prefix, depth = depth, last = last }
    if not (max_depth and depth >= max_depth) then
      local kids = sorted_children(s)
      local deep = depth + 1 > max_guides
      for i = #kids, 1, -1 do
        local klast = i == #kids
        n = n + 1
        st_s[n], st_d[n], st_l[n] = kids[i], depth + 1, klast
        if deep then
          st_p[n] = child_prefix .. "[depth " .. (depth + 1) .. "] " .. (klast and "└─ " or "├─ ")
          st_c[n] = child_prefix
        else
          st_p[n] = child_prefix .. (klast and "└─ " or "├─ ")
          st_c[n] = child_prefix .. (klast and "   " or "│  ")
        end
      end
    end
  end
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
