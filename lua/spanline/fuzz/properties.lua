-- fuzz/properties.lua: the built-in properties spanline checks on itself.
--
-- Key idea: each property runs a generated span program (fuzz/program.lua)
-- against a real tracer whose ids come from a fixed seed and whose clock is
-- a counter, so a run is a pure function of the program: the output can be
-- compared with the model, with the other encoding, and with itself, byte for
-- byte. Output goes to a function sink; JSONL is decoded with lua-cjson (the
-- counter clock keeps timestamps far below 2^53) and MessagePack with the
-- small decoder below, so these properties also check the writer
-- independently of spanline's own reader.

local gen = require("spanline.fuzz.gen")
local show = require("spanline.fuzz.show")
local program = require("spanline.fuzz.program")

local properties = {}

local CLOCK_START, CLOCK_STEP = 1000000000, 1000

-- ===== a tiny MessagePack decoder (reference, independent of the core) =====

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function mp_decode(s, pos)
  local b = s:byte(pos)
  if b == nil then error("msgpack: truncated", 0) end
  local function u(fmt, n) return string.unpack(fmt, s, pos + 1), pos + 1 + n end
  local function str(len_fmt, lsize)
    local n = string.unpack(len_fmt, s, pos + 1)
    local first = pos + 1 + lsize
    if first + n - 1 > #s then error("msgpack: truncated string", 0) end
    return s:sub(first, first + n - 1), first + n
  end
  local function seq(n, first, is_map)
    local t, p = {}, first
    for i = 1, n do
      if is_map then
        local k, v
        k, p = mp_decode(s, p)
        v, p = mp_decode(s, p)
        t[k] = v
      else
        t[i], p = mp_decode(s, p)
      end
    end
    return t, p
  end
  if b <= 0x7f then return b, pos + 1 end
  if b >= 0xe0 then return b - 256, pos + 1 end
  if b >= 0xa0 and b <= 0xbf then
    local n = b - 0xa0
    if pos + n > #s then error("msgpack: truncated string", 0) end
    return s:sub(pos + 1, pos + n), pos + 1 + n
  end
  if b >= 0x90 and b <= 0x9f then return seq(b - 0x90, pos + 1, false) end
  if b >= 0x80 and b <= 0x8f then return seq(b - 0x80, pos + 1, true) end
  if b == 0xc0 then return nil, pos + 1 end
  if b == 0xc2 then return false, pos + 1 end
  if b == 0xc3 then return true, pos + 1 end
  if b == 0xc4 then local v, p = str("B", 1) return { bin = v }, p end
  if b == 0xc5 then local v, p = str(">I2", 2) return { bin = v }, p end
  if b == 0xc6 then local v, p = str(">I4", 4) return { bin = v }, p end
  if b == 0xca then return u(">f", 4) end
  if b == 0xcb then return u(">d", 8) end
  if b == 0xcc then return u("B", 1) end
  if b == 0xcd then return u(">I2", 2) end
  if b == 0xce then return u(">I4", 4) end
  if b == 0xcf then return u(">i8", 8) end
  if b == 0xd0 then return u(">i1", 1) end
  if b == 0xd1 then return u(">i2", 2) end
  if b == 0xd2 then return u(">i4", 4) end
  if b == 0xd3 then return u(">i8", 8) end
  if b == 0xd9 then return str("B", 1) end
  if b == 0xda then return str(">I2", 2) end
  if b == 0xdb then return str(">I4", 4) end
  if b == 0xdc then return seq(string.unpack(">I2", s, pos + 1), pos + 3, false) end
  if b == 0xdd then return seq(string.unpack(">I4", s, pos + 1), pos + 5, false) end
  if b == 0xde then return seq(string.unpack(">I2", s, pos + 1), pos + 3, true) end
  if b == 0xdf then return seq(string.unpack(">I4", s, pos + 1), pos + 5, true) end
  error(string.format("msgpack: unsupported byte 0x%02x at %d", b, pos), 0)
end

-- Ids arrive as 16-byte bin (8 for a remote W3C parent): turn them into hex
-- so both encodings compare equal.
local function normalize_ids(rec)
  for _, k in ipairs{ "id", "trace", "parent" } do
    if type(rec[k]) == "table" and rec[k].bin then rec[k] = hex(rec[k].bin) end
  end
  return rec
end

function properties.decode_msgpack(bytes)
  local out, pos = {}, 1
  while pos <= #bytes do
    local rec
    rec, pos = mp_decode(bytes, pos)
    out[#out + 1] = normalize_ids(rec)
  end
  return out
end

function properties.decode_jsonl(bytes)
  local cjson = require("cjson.safe")
  local out = {}
  if #bytes > 0 and bytes:sub(-1) ~= "\n" then return nil, "output does not end with a newline" end
  local n = 0
  for line in bytes:gmatch("([^\n]*)\n") do
    n = n + 1
    local rec, err = cjson.decode(line)
    if type(rec) ~= "table" then return nil, "line " .. n .. " does not parse: " .. tostring(err) end
    if not utf8.len(line) then return nil, "line " .. n .. " is not valid UTF-8" end
    out[#out + 1] = rec
  end
  return out
end

-- ===== running a program against a tracer =====

-- Runs ops through a fresh tracer; returns the bytes written, the decoded
-- records (meta record removed), the tracer's stats and the span handles.
function properties.execute(ops, opts)
  opts = opts or {}
  local spanline = require("spanline")
  local chunks = {}
  local now = CLOCK_START
  local tracer = assert(spanline.tracer{
    output = function(s) chunks[#chunks + 1] = s end,
    format = opts.format or "jsonl",
    seed = opts.seed or 1,
    clock = function() now = now + CLOCK_STEP return now end,
    service = "fuzz", host = "fuzz",
  })
  local handles = program.run(ops, tracer, { api = properties.api, context = opts.context,
    create = opts.context and spanline.coroutine.create or nil })
  tracer:close()
  local stats = tracer.stats and tracer:stats() or nil
  local bytes = table.concat(chunks)
  if properties.on_output then properties.on_output(bytes, opts.format or "jsonl") end
  local recs, err
  if (opts.format or "jsonl") == "msgpack" then
    local ok, r = pcall(properties.decode_msgpack, bytes)
    if ok then recs = r else err = r end
  else
    recs, err = properties.decode_jsonl(bytes)
  end
  if not recs then return nil, err end
  -- Lanes number coroutines per process (each run makes new coroutines), so
  -- they are renumbered by first appearance before records are compared.
  local lanes, nlanes = {}, 0
  local body = {}
  for _, r in ipairs(recs) do
    if r.lane ~= nil then
      if not lanes[r.lane] then nlanes = nlanes + 1; lanes[r.lane] = nlanes end
      r.lane = lanes[r.lane]
    end
    if r.type ~= "meta" then body[#body + 1] = r end
  end
  return { bytes = bytes, records = body, all = recs, stats = stats, handles = handles, lanes = lanes }
end

-- ===== comparing values =====

local function num_equal(a, b)
  if a ~= a and b ~= b then return true end
  return a == b or (a + 0.0) == (b + 0.0)
end

local function same(a, b)
  if type(a) == "number" and type(b) == "number" then return num_equal(a, b) end
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
properties.same = same

-- A value the output must reproduce exactly (no truncation, no replaced
-- bytes, no float-to-string mapping, exact through a double).
local function comparable(v)
  local t = type(v)
  if t == "boolean" then return true end
  if t == "string" then return #v <= 200 and utf8.len(v) ~= nil end
  if math.type(v) == "integer" then return v > -(1 << 53) and v < (1 << 53) end
  if t == "number" then return v == v and v ~= math.huge and v ~= -math.huge end
  return false
end

-- ===== the properties =====

local function by_type(recs)
  local starts, ends, order = {}, {}, {}
  for i, r in ipairs(recs) do
    if r.type == "start" then
      if starts[r.id] then return nil, "id " .. r.id .. " started twice" end
      starts[r.id] = i
      order[#order + 1] = r
    elseif r.type == "end" then
      if ends[r.id] then return nil, "id " .. tostring(r.id) .. " ended twice" end
      ends[r.id] = i
    end
  end
  return starts, ends, order
end

local list = {}

-- gen_opts: options for the program generator this property needs.
local function define(name, description, check, gen_opts)
  list[#list + 1] = { name = name, description = description, check = check, gen_opts = gen_opts }
end

define("ends_have_starts", "every end record follows the start of the same id, once", function(ops)
  local run, err = properties.execute(ops)
  if not run then return false, err end
  local seen = {}
  for i, r in ipairs(run.records) do
    if r.type == "start" then seen[r.id] = true
    elseif r.type == "end" or r.type == "event" or r.type == "attr" then
      if not seen[r.id] then return false, "record " .. i .. " (" .. r.type .. ") before its start" end
    end
  end
  local _, e = by_type(run.records)
  if not _ then return false, e end
  return true
end)

define("nesting", "parents start before children; in one coroutine children end before parents unless abandoned",
  function(ops)
    local run, err = properties.execute(ops)
    if not run then return false, err end
    local model = program.model(ops)
    local starts, ends, order = by_type(run.records)
    if not starts then return false, ends end
    if #order ~= #model then return false, "expected " .. #model .. " spans, got " .. #order end
    for i, s in ipairs(model) do
      local r = order[i]
      if s.parent then
        local p = order[s.parent]
        if r.parent ~= p.id then return false, "span " .. i .. ": parent " .. tostring(r.parent) .. " ~= " .. p.id end
        if r.trace ~= p.trace then return false, "span " .. i .. ": trace differs from its parent's" end
        if not (starts[p.id] < starts[r.id] and p.ts < r.ts) then return false, "span " .. i .. " starts before its parent" end
        local ps = model[s.parent]
        if s.co == ps.co and s.status ~= "abandoned" and ps.status ~= "abandoned" then
          local rend, pend = run.records[ends[r.id]], run.records[ends[p.id]]
          if not (rend.ts <= pend.ts and ends[r.id] < ends[p.id]) then
            return false, "span " .. i .. " ends after its parent " .. s.parent
          end
        end
      else
        if r.parent ~= nil then return false, "span " .. i .. " should be a root" end
        if r.trace ~= r.id then return false, "root span " .. i .. ": trace ~= id" end
      end
    end
    return true
  end)

define("ids", "ids are 32 lowercase hex digits, unique, and sort in creation order", function(ops)
  local run, err = properties.execute(ops)
  if not run then return false, err end
  local _, e, order = by_type(run.records)
  if not _ then return false, e end
  for i, r in ipairs(order) do
    if type(r.id) ~= "string" or not r.id:match("^" .. ("%x"):rep(32) .. "$") or r.id:find("%u") then
      return false, "bad id " .. tostring(r.id)
    end
    if i > 1 and order[i - 1].id >= r.id then return false, "ids out of order at span " .. i end
  end
  return true
end)

define("parse", "every JSONL line parses with lua-cjson, is valid UTF-8 and has its fields", function(ops)
  local run, err = properties.execute(ops)
  if not run then return false, err end
  if run.all[1] == nil or run.all[1].type ~= "meta" then return false, "first record is not meta" end
  local need = { start = { "id", "trace", "name", "ts" }, ["end"] = { "id", "ts", "status" },
    event = { "id", "name", "ts" }, attr = { "id", "ts", "attrs" } }
  for i, r in ipairs(run.records) do
    local fields = need[r.type]
    if not fields then return false, "record " .. i .. ": unknown type " .. tostring(r.type) end
    for _, f in ipairs(fields) do
      if r[f] == nil then return false, "record " .. i .. " (" .. r.type .. ") lacks " .. f end
    end
  end
  return true
end)

define("jsonl_msgpack", "JSONL and MessagePack encodings of the same run decode to the same records", function(ops)
  local a, err = properties.execute(ops, { format = "jsonl" })
  if not a then return false, "jsonl: " .. err end
  local b, err2 = properties.execute(ops, { format = "msgpack" })
  if not b then return false, "msgpack: " .. err2 end
  if #a.all ~= #b.all then return false, #a.all .. " JSONL records, " .. #b.all .. " msgpack records" end
  for i = 1, #a.all do
    local x, y = a.all[i], b.all[i]
    if x.type == "meta" then x.pid, y.pid = nil, nil end
    if not same(x, y) then
      return false, "record " .. i .. " differs: " .. show(x) .. " vs "
        .. show(y)
    end
  end
  return true
end)

define("no_span_lost", "after close every span has exactly one end; abandoned ones as in the model", function(ops)
  local run, err = properties.execute(ops)
  if not run then return false, err end
  local model = program.model(ops)
  local starts, ends, order = by_type(run.records)
  if not starts then return false, ends end
  if #order ~= #model then return false, "expected " .. #model .. " starts, got " .. #order end
  local nends, abandoned, expect_abandoned = 0, 0, 0
  for i, s in ipairs(model) do
    local e = ends[order[i].id]
    if not e then return false, "span " .. i .. " has no end" end
    nends = nends + 1
    local rec = run.records[e]
    if rec.status ~= s.status then
      return false, "span " .. i .. ": status " .. tostring(rec.status) .. ", expected " .. s.status
    end
    if s.status == "error" and (s.error or "") ~= "" and comparable(s.error) and rec.error ~= s.error then
      return false, "span " .. i .. ": error message " .. tostring(rec.error)
    end
    if rec.status == "abandoned" then abandoned = abandoned + 1 end
    if s.status == "abandoned" then expect_abandoned = expect_abandoned + 1 end
  end
  local st = run.stats
  if st then
    if st.spans_open and st.spans_open ~= 0 then return false, "stats: " .. st.spans_open .. " spans open after close" end
    if st.abandoned and st.abandoned ~= expect_abandoned then
      return false, "stats: abandoned " .. st.abandoned .. ", expected " .. expect_abandoned
    end
  end
  return abandoned == expect_abandoned
end)

define("deterministic", "the same program, seed and clock give byte-identical output", function(ops)
  for _, format in ipairs{ "jsonl", "msgpack" } do
    local a, err = properties.execute(ops, { format = format, seed = 7 })
    if not a then return false, err end
    local b = properties.execute(ops, { format = format, seed = 7 })
    if format == "jsonl" then
      -- byte for byte, once lanes are renumbered the same way
      local function canon(run)
        return (run.bytes:gsub('"pid":%d+', '"pid":0'):gsub('"lane":(%d+)', function(l)
          return '"lane":' .. run.lanes[math.tointeger(tonumber(l))]
        end))
      end
      if canon(a) ~= canon(b) then return false, "jsonl output differs between two identical runs" end
    elseif not same(a.all, b.all) then
      return false, "msgpack records differ between two identical runs"
    end
  end
  return true
end)

define("query_tree", "spanline.query reassembles exactly the program's tree", function(ops)
  local run, err = properties.execute(ops)
  if not run then return false, err end
  local query = require("spanline.query")
  -- traces() holds whole traces, so children that start after their parent
  -- ended (possible across coroutines) are linked too; spans() streams and
  -- forgets ended spans, so only its parent ids are compared.
  local ok, traces = pcall(function() return query.from_string(run.bytes):traces() end)
  if not ok then return false, "query: " .. tostring(traces) end
  local spans = {}
  local function walk(s)
    spans[#spans + 1] = s
    for _, c in ipairs(s.children or {}) do walk(c) end
  end
  for _, t in ipairs(traces) do for _, r in ipairs(t.roots) do walk(r) end end
  local sok, streamed = pcall(function() return query.from_string(run.bytes):spans():collect() end)
  if not sok then return false, "query spans(): " .. tostring(streamed) end
  if #streamed ~= #spans then return false, "spans() found " .. #streamed .. " spans, traces() " .. #spans end
  local parent_of = {}
  for _, s in ipairs(streamed) do parent_of[s.id] = s.parent or false end
  for _, s in ipairs(spans) do
    if parent_of[s.id] ~= (s.parent or false) then return false, "spans() and traces() disagree on " .. s.id end
  end
  local model = program.model(ops)
  if #spans ~= #model then return false, "query found " .. #spans .. " spans, expected " .. #model end
  table.sort(spans, function(a, b) return a.id < b.id end)
  local index = {}
  for i, s in ipairs(spans) do index[s.id] = i end
  for i, m in ipairs(model) do
    local s = spans[i]
    local where = "span " .. i
    if comparable(m.name) and s.name ~= m.name then return false, where .. ": name " .. tostring(s.name) end
    local parent = s.parent and index[s.parent]
    if parent ~= m.parent then return false, where .. ": parent " .. tostring(parent) .. ", expected " .. tostring(m.parent) end
    if s.depth and s.depth ~= m.depth - 1 and s.depth ~= m.depth then return false, where .. ": depth " .. s.depth end
    if s.status ~= m.status then return false, where .. ": status " .. tostring(s.status) .. ", expected " .. m.status end
    if #(s.children or {}) ~= #m.children then return false, where .. ": " .. #(s.children or {}) .. " children" end
    if #(s.events or {}) ~= #m.events then return false, where .. ": " .. #(s.events or {}) .. " events" end
    -- a key with invalid UTF-8 is written with U+FFFD and may collide with
    -- another key: compare attrs only when every key is written as is
    local clean = true
    for k in pairs(m.attrs) do if not comparable(k) then clean = false end end
    for k, v in pairs(clean and m.attrs or {}) do
      if comparable(v) and not same(s.attrs and s.attrs[k], v) then
        return false, where .. ": attr " .. k .. " = " .. tostring(s.attrs and s.attrs[k]) .. ", expected " .. tostring(v)
      end
    end
  end
  return true
end)

define("context", "with no explicit parent, the current span of each coroutine (inherited by "
  .. "spawned coroutines, kept across yield/resume, tracer:with calls returning or raising) is the parent",
  function(ops)
  local run, err = properties.execute(ops, { context = true })
  if not run then return false, err end
  local model = program.model(ops)
  local starts, ends, order = by_type(run.records)
  if not starts then return false, ends end
  if #order ~= #model then return false, "expected " .. #model .. " spans, got " .. #order end
  local lane_of = {}
  for i, s in ipairs(model) do
    local want = s.parent and order[s.parent].id or nil
    if order[i].parent ~= want then
      return false, "span " .. i .. ": parent " .. tostring(order[i].parent) .. ", expected " .. tostring(want)
    end
    local e = ends[order[i].id]
    local rec = e and run.records[e]
    if not rec or rec.status ~= s.status then
      return false, "span " .. i .. ": status " .. tostring(rec and rec.status) .. ", expected " .. s.status
    end
    if s.status == "error" and comparable(s.error or "") and (rec.error or "") ~= (s.error or "") then
      return false, "span " .. i .. ": error " .. tostring(rec.error) .. ", expected " .. tostring(s.error)
    end
    local lane = order[i].lane
    if lane_of[s.co] == nil then lane_of[s.co] = lane end
    if lane_of[s.co] ~= lane then return false, "span " .. i .. ": lane " .. tostring(lane) .. " for coroutine " .. s.co end
  end
  return true
end, { kinds = { "start", "event", "set", "finish", "error", "spawn", "resume", "yield", "call", "return", "raise" } })

properties.list = list

function properties.get(name)
  for _, p in ipairs(list) do if p.name == name then return p end end
  return nil
end

-- The calls programs make (fuzz/program.lua's program.api); a test may swap
-- in a broken one to see the properties catch it.
properties.api = nil

-- Called with (bytes, format) after every run (the CLI's --dump).
properties.on_output = nil

-- The generator the built-in properties run on: span programs whose
-- attribute values include long strings (past the 4096-byte value limit).
-- opts.max_attrs: most keys per attrs table (1 makes output byte-identical
-- across processes: Lua's table order is randomized per process).
function properties.generator(opts)
  opts = opts or {}
  if opts.max_attrs and not opts.attrs then
    opts.attrs = gen.table(opts.key or gen.string{ min = 1, max = 8 },
      gen.one_of{ gen.integer(), gen.string(), gen.boolean(), gen.float() }, { max = opts.max_attrs })
  end
  if not opts.value then
    opts.value = gen.one_of{ gen.integer(), gen.string(), gen.boolean(), gen.float(),
      gen.integer(math.mininteger, math.maxinteger), gen.string{ min = 1, max = 4, long = 6000 } }
  end
  return program.generator(opts)
end

return properties
