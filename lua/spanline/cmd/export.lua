-- cmd/export.lua: `spanline export FILE --to FORMAT [-o OUT]`: spans in the
-- formats other tools read (spanline.export.*), or pushed to an OpenTelemetry
-- collector with --endpoint.
local args = require("spanline.cli.args")
local export = require("spanline.export")
local spanfile = require("spanline.cli.spanfile")

local USAGE = [[
usage: spanline export FILE --to FORMAT [-o OUT] [--include-open] [--service NAME]
       spanline export FILE --to otlp-json|otlp-proto --endpoint URL [--header K=V]...
                            [--follow] [--batch N] [--queue N] [--timeout DUR]

Formats (--to):
  otlp-json   OTLP/HTTP JSON: one ExportTraceServiceRequest per line
  otlp-proto  OTLP protobuf: ExportTraceServiceRequest messages (concatenated,
              they read as one)
  chrome      Trace Event Format JSON: Perfetto UI (ui.perfetto.dev), chrome://tracing
  folded      collapsed stacks weighted by self time (ns): flamegraph.pl, speedscope
  html        one self-contained HTML page: timeline, span list, details, report
  (and every other module in spanline/export/)

--include-open   spans still open at the end too (ended at the last timestamp
                 seen, marked spanline.open = true)
--service NAME   service.name when the file's meta record names none
--endpoint URL   POST batches to an OTLP/HTTP collector (http://HOST:4318/v1/traces)
                 with retries and backoff; drops are counted and reported
--header K=V     an HTTP header for --endpoint (repeatable)
--follow         keep shipping what is appended to FILE (until interrupted)
--batch N        spans per request (default 512; OTLP formats)
--queue N        spans held while the collector is unreachable (default 65536;
                 past that new spans are dropped and counted)
--timeout DUR    how long to keep trying to deliver after the last record
                 (default 30s); what is left is reported and exits 1
FILE "-" reads stdin.
]]

local SPEC = {
  ["--to"] = "value", ["--output"] = "value", ["--include-open"] = "flag", ["--service"] = "value",
  ["--endpoint"] = "value", ["--header"] = "list", ["--follow"] = "flag", ["--batch"] = "value",
  ["--queue"] = "value", ["--timeout"] = "value",
  aliases = { ["-o"] = "--output" },
}

local function fail(msg, status)
  io.stderr:write("spanline export: ", msg, "\n")
  return status or 1
end

-- Whether q has handed out a span record yet (OTLP formats count the
-- records they read in C, the others go through the assembler).
local function saw_spans(q)
  if (q.source.span_records_fed or 0) > 0 then return true end
  local asm = q.source.assembler
  local st = asm and asm:stats()
  return st ~= nil and st.records > st.metas
end

-- out, holding what is written until the stream shows a span record, so an
-- empty or meta-only stream writes nothing (no page without spans before
-- the error). Holds at most HOLD bytes: what a format writes before its
-- first span is a header, never the spans themselves.
local HOLD = 4 << 20
local function held_until_spans(out, q)
  local held, size = {}, 0
  local w = {}
  function w.write(_, ...)
    if held and (saw_spans(q) or size > HOLD) then
      out:write(table.concat(held))
      held = nil
    end
    if not held then
      out:write(...)
      return w
    end
    for i = 1, select("#", ...) do
      local piece = tostring((select(i, ...)))
      held[#held + 1] = piece
      size = size + #piece
    end
    return w
  end
  -- keep = false drops what is held (the stream had no spans)
  function w.finish(keep)
    if held and keep then out:write(table.concat(held)) end
    held = nil
  end
  return w
end

local function run(argv)
  local opts, pos = args.parse(argv, SPEC)
  if not opts then return fail(pos, 2) end
  if #pos ~= 1 or not opts.to then
    io.stderr:write("spanline export: expected FILE and --to FORMAT\n", USAGE)
    return 2
  end
  local mod, msg = export.load(opts.to)
  if not mod then
    return fail(msg .. " (formats: " .. table.concat(export.formats(), ", ") .. ")", 2)
  end
  for _, key in ipairs({ "batch", "queue" }) do
    local n, bad = args.integer(opts, key, 1)
    if bad then return fail(bad, 2) end
    opts[key] = n
  end
  if opts.endpoint or opts.follow or opts.header or opts.queue or opts.timeout then
    if not opts.endpoint then return fail("--follow, --header, --queue and --timeout need --endpoint", 2) end
    if not mod.push then return fail("--endpoint needs --to otlp-json or otlp-proto", 2) end
    if opts.output then return fail("--endpoint and --output exclude each other", 2) end
    if opts.timeout then
      local ns, bad = args.duration(opts.timeout)
      if not ns then return fail("--timeout: " .. bad, 2) end
      opts.timeout_ms = ns // 1000000
    end
    local ok, err = mod.push(pos[1], opts, io.stderr)
    if not ok then return fail(err) end
    return 0
  end
  opts.file = pos[1]:match("[^/]*$")   -- a name for titles (html)
  local q
  q, msg = spanfile.open(pos[1], { raw = true })
  if not q then return fail(msg) end
  local out = io.stdout
  if opts.output and opts.output ~= "-" then
    local err
    out, err = io.open(opts.output, "wb")
    if not out then return fail("cannot write " .. tostring(err)) end
  end
  out:setvbuf("full", 1 << 16)
  local held = held_until_spans(out, q)
  local ok, err = mod.export(q, held, opts)
  local problem
  if ok then
    problem = spanfile.check(q)   -- also ends the progress line before any note
    if saw_spans(q) then problem = nil end   -- OTLP formats read in C, past the assembler it asks
  end
  held.finish(ok and not problem)
  if out ~= io.stdout then out:close() else out:flush() end
  if problem and out ~= io.stdout then os.remove(opts.output) end   -- no file without spans
  if not ok then return fail(err) end
  if problem then return fail(problem) end
  for _, line in ipairs(spanfile.input_notes(q)) do io.stderr:write("spanline export: ", line, "\n") end
  return 0
end

return { summary = "spans as OTLP, Chrome trace, folded stacks or HTML; or push them to a collector",
  usage = USAGE, run = run }
