-- export/otlp.lua: what otlp_json.lua and otlp_proto.lua share: spans as
-- OTLP ExportTraceServiceRequests, to a file or pushed to a collector.
-- (Not a format itself: it has no `export`.)
--
-- Key idea: the encoding is the core's (core/src/otlp_*.c) and so is the
-- assembly of spans from records: a records query hands its C reader to
-- the encoder, a spans query hands over each span's records (kept by its
-- assembler with query.open(..., {raw = true})), so every OTLP byte comes
-- from the same encoder as the tracer's own OTLP output. Requests hold `batch`
-- spans (default 512): otlp-json writes one request per line (the form
-- the collector's file exporter writes), otlp-proto writes them back to
-- back (concatenated protobuf messages read as one).

local core = require("spanline.core")

local otlp = {}

local FEED = 4096   -- records per call into C

local function encoder_opts(format, opts)
  return { format = format, include_open = opts.include_open, service = opts.service,
           batch = opts.batch }
end

-- Feeds q into enc: a records query's reader, or a spans query's records.
local function feed_query(q, enc, on_ready)
  local source = q.source
  local reader = q.kind == "records" and source.take_reader and source.take_reader()
  if reader then
    source.span_records_fed = 0   -- records that are not meta (cmd/export: "no span records")
    repeat
      local status, _, spans = enc:feed(reader, FEED)
      source.span_records_fed = source.span_records_fed + spans
      on_ready()
    until status ~= "more"
    return true
  end
  local spans = q.kind == "spans" and q or q:spans()
  local meta_done = false
  for _ in spans:iter() do
    -- the span just handed out: its records, kept by the assembler (raw)
    local src = spans.source
    local asm, ref = src.assembler, src.current_ref
    local text = asm and ref and src.opts and src.opts.raw and asm:raw(ref)
    if not text or text == "" then
      return nil, "OTLP export of a spans query needs the spans' records (query.open(path, {raw = true}))"
    end
    if not meta_done then
      meta_done = true
      local meta = asm:meta()
      if meta then enc:feed(meta .. "\n") end
    end
    enc:feed(text)
    on_ready()
  end
  return true
end

-- The exporter of one encoding ("json" | "proto").
function otlp.exporter(format, summary)
  local mod = { summary = summary }

  -- mod.export(q, out, opts) -> true | nil, message, code
  function mod.export(q, out, opts)
    opts = opts or {}
    local enc = assert(core.otlp(encoder_opts(format, opts)))
    local function on_ready()
      local bytes = enc:take()
      if bytes then out:write(bytes) end
    end
    local ok, done, msg = pcall(feed_query, q, enc, on_ready)
    if not ok or not done then
      enc:close()
      return nil, tostring(ok and msg or done), "EIO"
    end
    enc:finish()
    on_ready()
    local st = enc:stats()
    enc:close()
    mod.last_stats = st
    return true
  end

  -- mod.push(path, opts, log) -> true | nil, message: ships the file's
  -- spans to opts.endpoint; with opts.follow keeps shipping what is
  -- appended until interrupted. log gets one line at the end (counts).
  function mod.push(path, opts, log)
    local push = require("spanline.export.push")
    return push.run(path, format, opts, log)
  end

  return mod
end

return otlp
