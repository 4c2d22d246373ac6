// compare.js RECORDS.jsonl SPANLINE.otlp.json SPANLINE.otlp.pb
//
// Rebuilds the trace of a spanline record file with the OpenTelemetry JS SDK
// (same ids, times, attributes, events, status, resource and scope), has the
// JS SDK's own OTLP serialisers (@opentelemetry/otlp-transformer) encode it
// as JSON and protobuf, and compares spanline's two encodings of the same
// file with them field by field (both protobufs decoded with the generated
// definitions in otlp-transformer). Exits 0 when all four agree.
'use strict';

const fs = require('fs');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { JsonTraceSerializer, ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { decodeProto, normalize, diff } = require('./otlp');

const [recordsPath, jsonPath, protoPath] = process.argv.slice(2);
if (!protoPath) {
  console.error('usage: compare.js RECORDS.jsonl SPANLINE.otlp.json SPANLINE.otlp.pb');
  process.exit(2);
}

// ---- the records (ids and timestamps kept exact: read as text) ----
function parseRecord(line) {
  const rec = JSON.parse(line);
  const ts = line.match(/"ts":(\d+)/);
  if (ts) rec.ts = BigInt(ts[1]);
  return rec;
}

function hrtime(ns) {
  return [Number(ns / 1000000000n), Number(ns % 1000000000n)];
}

function jsValue(v) {
  return v;   // strings, numbers, booleans and flat arrays are what both sides take
}

const lines = fs.readFileSync(recordsPath, 'utf8').split('\n').filter((l) => l.trim());
const recs = lines.map(parseRecord);
const meta = recs.find((r) => r.type === 'meta') || {};

// ---- the same trace through the JS SDK ----
let nextIds = null;
const idGenerator = {
  generateTraceId: () => nextIds.traceId,
  generateSpanId: () => nextIds.spanId,
};
const exporter = new InMemorySpanExporter();
const resourceAttrs = { 'service.name': meta.service || 'unknown_service' };
if (meta.host) resourceAttrs['host.name'] = meta.host;
resourceAttrs['telemetry.sdk.name'] = 'spanline';
resourceAttrs['telemetry.sdk.version'] = '0.1.0';
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes(resourceAttrs),
  idGenerator,
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('spanline', '0.1.0');

// spanline has no kind field: an attribute span.kind names it (the
// convention the Collector maps from Zipkin and Jaeger), as the SDK's kind.
const SPAN_KINDS = {
  internal: api.SpanKind.INTERNAL, server: api.SpanKind.SERVER, client: api.SpanKind.CLIENT,
  producer: api.SpanKind.PRODUCER, consumer: api.SpanKind.CONSUMER,
};
const open = new Map();      // spanline id -> { span, lane, attrs }
let lastTs = 0n;
for (const r of recs) {
  if (r.ts && r.ts > lastTs) lastTs = r.ts;
  if (r.type === 'start') {
    const spanId = r.id.slice(16);
    let ctx = api.ROOT_CONTEXT;
    if (r.parent) {
      ctx = api.trace.setSpanContext(api.ROOT_CONTEXT, {
        traceId: r.trace, spanId: r.parent.slice(-16), traceFlags: 1, isRemote: r.parent.length === 16,
      });
    }
    nextIds = { traceId: r.trace, spanId };
    const kind = SPAN_KINDS[String((r.attrs || {})['span.kind'] || 'internal').toLowerCase()] ?? api.SpanKind.INTERNAL;
    const span = tracer.startSpan(r.name, { startTime: hrtime(r.ts), kind }, ctx);
    for (const [k, v] of Object.entries(r.attrs || {})) span.setAttribute(k, jsValue(v));
    open.set(r.id, { span, lane: r.lane });
  } else if (r.type === 'attr') {
    const o = open.get(r.id);
    for (const [k, v] of Object.entries(r.attrs || {})) o.span.setAttribute(k, jsValue(v));
  } else if (r.type === 'event') {
    const o = open.get(r.id);
    o.span.addEvent(r.name, r.attrs || {}, hrtime(r.ts));
  } else if (r.type === 'end') {
    const o = open.get(r.id);
    if (o.lane > 0) o.span.setAttribute('spanline.lane', o.lane);
    if (r.status === 'abandoned') o.span.setAttribute('spanline.abandoned', true);
    if (r.status === 'error') o.span.setStatus({ code: api.SpanStatusCode.ERROR, message: r.error });
    o.span.end(hrtime(r.ts));
    open.delete(r.id);
  }
}
if (open.size) {
  console.error(`${open.size} spans still open in ${recordsPath}: end them before comparing`);
  process.exit(2);
}
const jsSpans = exporter.getFinishedSpans();

// ---- four encodings of one trace ----
const jsJson = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(jsSpans)).toString('utf8'));
const jsProto = decodeProto(ProtobufTraceSerializer.serializeRequest(jsSpans));

function mergeRequests(list) {
  return { resourceSpans: list.flatMap((r) => r.resourceSpans || []) };
}
const slJson = mergeRequests(fs.readFileSync(jsonPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)));
const slProto = decodeProto(fs.readFileSync(protoPath));

const want = normalize(jsProto);
const checks = [
  ['JS SDK JSON vs JS SDK protobuf', normalize(jsJson)],
  ['spanline JSON vs JS SDK', normalize(slJson)],
  ['spanline protobuf vs JS SDK', normalize(slProto)],
];
let failed = false;
const n = Object.keys(want.spans).length;
for (const [label, got] of checks) {
  const d = diff(want, got);
  if (d.length) {
    failed = true;
    console.error(`${label}: ${d.length} differences`);
    for (const line of d.slice(0, 40)) console.error('  ' + line);
  } else {
    console.log(`${label}: ${n} spans agree field by field`);
  }
}
if (n === 0) {
  console.error('no spans to compare');
  failed = true;
}
process.exit(failed ? 1 : 0);
