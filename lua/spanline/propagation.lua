-- propagation.lua: W3C Trace Context across processes (spanline.extract and
-- spanline.inject).
--
--   local ctx = spanline.extract(request.headers)      -- or a traceparent string
--   local span = tracer:start("handle", nil, { parent = ctx })
--   spanline.inject(span, outgoing_headers)             -- traceparent (+ tracestate)
--
-- Key idea: extract never raises on what arrived over the wire. It always
-- returns a context table; a valid one holds the header normalised to
-- version 00 (`traceparent`), a missing or malformed one holds none, and
-- tracer:start with such a context starts a new trace (counting a malformed
-- one in tracer:stats().bad_traceparents). The parsing rules are the W3C
-- test suite's: names case-insensitive, optional whitespace around values,
-- a repeated traceparent is invalid, version ff and uppercase hex are
-- invalid, a future version is read by the version-00 prefix (more fields
-- may follow a '-'). tracestate is checked member by member (key and value
-- grammar, at most 32 members) and kept as given; one bad member drops it
-- whole, and it is never read without a valid traceparent.
--
-- tracestate follows the trace: extract remembers it by trace id (for the
-- last 1024 traces that carried one, so memory stays bounded) and inject
-- writes it for any span of that trace.

local core = require("spanline.core")

local propagation = {}

local MAX_MEMBERS = 32
local REMEMBERED = 1024

-- trace id -> tracestate, bounded: a ring of the ids in insertion order.
local states, ring, ring_next = {}, {}, 1

local function remember(trace, tracestate)
  if states[trace] == nil then
    local old = ring[ring_next]
    if old then states[old] = nil end
    ring[ring_next] = trace
    ring_next = ring_next % REMEMBERED + 1
  end
  states[trace] = tracestate
end

local function trim(s)
  return (s:gsub("^[ \t]+", ""):gsub("[ \t]+$", ""))
end

-- The values of one header (any case) in a headers table: a string or an
-- array of strings per name (HTTP libraries give either for repeats).
local function header_values(headers, wanted)
  local out = {}
  for name, value in pairs(headers) do
    if type(name) == "string" and name:lower() == wanted then
      if type(value) == "table" then
        for _, v in ipairs(value) do
          if type(v) == "string" then out[#out + 1] = v end
        end
      elseif type(value) == "string" then
        out[#out + 1] = value
      end
    end
  end
  return out
end

local KEY = "^[0-9a-z][_0-9a-z%-%*/@]*$"
-- value: printable ASCII without ',' and '=', the last character no space
local VALUE = "^[\32-\43\45-\60\62-\126]*[\33-\43\45-\60\62-\126]$"

-- tracestate members joined with ",", or nil when any member is bad or
-- there are more than 32 (the test suite's strict level).
local function parse_tracestate(values)
  local members = {}
  for _, v in ipairs(values) do
    for member in (v .. ","):gmatch("([^,]*),") do
      member = trim(member)
      if member ~= "" then
        local key, value = member:match("^([^=]*)=(.*)$")
        if not key or #key > 256 or #value > 256 or not key:match(KEY) or not value:match(VALUE) then
          return nil
        end
        members[#members + 1] = member
      end
    end
  end
  if #members == 0 or #members > MAX_MEMBERS then return nil end
  return table.concat(members, ",")
end

-- A context that starts a new trace (malformed: counted by the tracer).
local function no_parent(malformed, reason)
  return { malformed = malformed or nil, reason = reason }
end

-- spanline.extract(headers | traceparent string) -> context table:
-- { traceparent, trace, span, flags, sampled, tracestate } for a valid
-- header, { reason } without one, { malformed = true, reason } for a bad one.
function propagation.extract(carrier)
  local tp_values, ts_values
  if type(carrier) == "string" then
    tp_values, ts_values = { carrier }, {}
  elseif type(carrier) == "table" then
    tp_values, ts_values = header_values(carrier, "traceparent"), header_values(carrier, "tracestate")
  else
    error("bad argument #1 to 'extract' (headers table or traceparent string expected, got "
      .. type(carrier) .. ")", 2)
  end
  if #tp_values == 0 then return no_parent(false, "no traceparent") end
  if #tp_values > 1 then return no_parent(true, "more than one traceparent") end
  local header = trim(tp_values[1])
  local p = core.traceparent_parse(header)
  if not p then return no_parent(true, "malformed traceparent") end
  local ctx = {
    traceparent = core.traceparent_format(p.trace, p.span, p.flags),
    trace = p.trace,
    span = p.span,
    flags = p.flags,
    sampled = p.sampled,
    tracestate = parse_tracestate(ts_values),
  }
  if ctx.tracestate then remember(ctx.trace, ctx.tracestate) end
  return ctx
end

-- Sets name to value in headers, replacing the same name in any case.
local function set_header(headers, name, value)
  for k in pairs(headers) do
    if type(k) == "string" and k ~= name and k:lower() == name then headers[k] = nil end
  end
  headers[name] = value
end

-- spanline.inject(span | context, headers?) -> headers, with traceparent
-- (and tracestate, when the trace arrived with one) set. A span of an
-- unsampled trace (spanline.noop) has no ids to send: nothing is set.
function propagation.inject(from, headers)
  if headers == nil then
    headers = {}
  elseif type(headers) ~= "table" then
    error("bad argument #2 to 'inject' (table expected, got " .. type(headers) .. ")", 2)
  end
  local traceparent, tracestate
  if type(from) == "table" then
    traceparent, tracestate = from.traceparent, from.tracestate
  elseif type(from) == "userdata" and type(from.traceparent) == "function" then
    traceparent = from:traceparent()
    local trace = traceparent and from:trace_id()
    tracestate = trace and states[trace]
  else
    error("bad argument #1 to 'inject' (span or context expected, got " .. type(from) .. ")", 2)
  end
  if traceparent then
    set_header(headers, "traceparent", traceparent)
    set_header(headers, "tracestate", tracestate)
  end
  return headers
end

return propagation
