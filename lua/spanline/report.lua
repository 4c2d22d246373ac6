-- report.lua: query results (stats rows) as an aligned text table, CSV or JSON.
--
-- Rows are what query's stats() returns; durations are integer nanoseconds
-- shown human-readable in tables (950ns, 12.3us, 4.50ms, 1.25s) and as raw
-- integers in CSV/JSON so other tools can compute with them.

local text = require("spanline.text")

local report = {}

-- Durations as people read them (spanline/text.lua: the one formatter).
report.duration = text.duration

-- The columns, in order: { field, title, kind } (kind "dur" or "int" or
-- "str"). Titles are the field names of query's stats rows (the first
-- column's title is the grouping, e.g. "name"), so a script reads what the
-- table shows.
report.COLUMNS = {
  { "key", "group", "str" }, { "count", "count", "int" }, { "errors", "errors", "int" },
  { "open", "open", "int" }, { "total", "total", "dur" }, { "min", "min", "dur" },
  { "mean", "mean", "dur" }, { "stdev", "stdev", "dur" }, { "p50", "p50", "dur" },
  { "p90", "p90", "dur" }, { "p95", "p95", "dur" }, { "p99", "p99", "dur" },
  { "max", "max", "dur" }, { "self_total", "self_total", "dur" }, { "self_mean", "self_mean", "dur" },
}

local function cells(row, cols)
  local out = {}
  for i, c in ipairs(cols) do
    local v = row[c[1]]
    if c[3] == "dur" then out[i] = report.duration(v)
    elseif v == nil then out[i] = "-"
    else out[i] = text.clean(tostring(v)) end   -- names and keys come from the stream
  end
  return out
end

-- Display width in code points (names may be UTF-8).
local function width(s)
  return utf8.len(s) or #s
end

-- opts.title: the first column's title (e.g. "name").
function report.table(rows, opts)
  opts = opts or {}
  local cols = {}
  for i, c in ipairs(report.COLUMNS) do cols[i] = c end
  if opts.title then cols[1] = { "key", opts.title, "str" } end
  local grid = { {} }
  for i, c in ipairs(cols) do grid[1][i] = c[2] end
  for _, row in ipairs(rows) do grid[#grid + 1] = cells(row, cols) end
  local w = {}
  for _, line in ipairs(grid) do
    for i, cell in ipairs(line) do
      if not w[i] or width(cell) > w[i] then w[i] = width(cell) end
    end
  end
  local out = {}
  for _, line in ipairs(grid) do
    local parts = {}
    for i, cell in ipairs(line) do
      local pad = string.rep(" ", w[i] - width(cell))
      parts[i] = i == 1 and cell .. pad or pad .. cell  -- names left, numbers right
    end
    out[#out + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  return table.concat(out, "\n") .. "\n"
end

local function csv_cell(v)
  if v == nil then return "" end
  if math.type(v) == "float" then v = string.format("%.1f", v) end
  v = text.clean(tostring(v))   -- CSV lands on terminals too
  if v:find('[,"\r\n]') then v = '"' .. v:gsub('"', '""') .. '"' end
  return v
end

function report.csv(rows, opts)
  opts = opts or {}
  local head = {}
  for i, c in ipairs(report.COLUMNS) do head[i] = c[1] end
  if opts.title then head[1] = opts.title end
  local out = { table.concat(head, ",") }
  for _, row in ipairs(rows) do
    local line = {}
    for i, c in ipairs(report.COLUMNS) do line[i] = csv_cell(row[c[1]]) end
    out[#out + 1] = table.concat(line, ",")
  end
  return table.concat(out, "\n") .. "\n"
end

-- A JSON array of objects (spanline.json: integer nanoseconds exact); the
-- float columns (mean, stdev) with three decimals of a nanosecond.
function report.json(rows, opts)
  opts = opts or {}
  local json = require("spanline.json")
  local out = {}
  for _, row in ipairs(rows) do
    local fields = {}
    for _, c in ipairs(report.COLUMNS) do
      local v = row[c[1]]
      local name = c[1] == "key" and (opts.title or "key") or c[1]
      local value
      if math.type(v) == "float" and v == v and v ~= math.huge and v ~= -math.huge then
        value = string.format("%.3f", v)
      else
        value = json.value(v)
      end
      fields[#fields + 1] = json.string(name) .. ":" .. value
    end
    out[#out + 1] = "{" .. table.concat(fields, ",") .. "}"
  end
  return "[" .. table.concat(out, ",\n") .. "]\n"
end

function report.render(rows, format, opts)
  local f = report[format or "table"]
  if format == "render" or format == "duration" or type(f) ~= "function" then
    return nil, "unknown format '" .. tostring(format) .. "' (table, csv or json)"
  end
  return f(rows, opts)
end

return report
