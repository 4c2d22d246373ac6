// otlp.js: decoding and normalising OTLP trace requests with the official
// OpenTelemetry JS packages (the protobuf definitions generated into
// @opentelemetry/otlp-transformer, read with protobufjs), so a spanline
// request and one the JS SDK serialised can be compared field by field.
'use strict';

const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

// protobuf bytes -> the JSON shape (hex ids, decimal strings for 64-bit ints).
function decodeProto(bytes) {
  const msg = Request.decode(bytes);
  const err = Request.verify(msg);
  if (err) throw new Error('invalid ExportTraceServiceRequest: ' + err);
  const obj = Request.toObject(msg, { longs: String, bytes: Array, enums: Number, defaults: false });
  return fromProtoObject(obj);
}

function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

function fromProtoObject(o) {
  if (Array.isArray(o)) return o.map(fromProtoObject);
  if (o === null || typeof o !== 'object') return o;
  const out = {};
  for (const [k, v] of Object.entries(o)) {
    if ((k === 'traceId' || k === 'spanId' || k === 'parentSpanId') && Array.isArray(v)) out[k] = hex(v);
    else out[k] = fromProtoObject(v);
  }
  return out;
}

// AnyValue -> a plain comparable value ({int: "12"} keeps int/double apart).
function anyValue(v) {
  if (!v) return null;
  if ('stringValue' in v) return { string: v.stringValue };
  if ('intValue' in v) return { int: String(v.intValue) };
  if ('doubleValue' in v) return { double: Number(v.doubleValue) };
  if ('boolValue' in v) return { bool: v.boolValue };
  if ('arrayValue' in v) return { array: ((v.arrayValue && v.arrayValue.values) || []).map(anyValue) };
  return { empty: true };
}

function attrs(list) {
  const out = {};
  for (const kv of list || []) {
    if (kv.key in out) throw new Error('duplicate attribute key ' + kv.key);
    out[kv.key] = anyValue(kv.value);
  }
  return out;
}

// A request (either encoding, as an object) -> { resource, scope, spans by id }
// with every default made explicit, so missing and zero compare equal.
function normalize(req) {
  const out = { spans: {} };
  for (const rs of req.resourceSpans || []) {
    const resource = attrs(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      const scope = { name: (ss.scope && ss.scope.name) || '', version: (ss.scope && ss.scope.version) || '' };
      for (const s of ss.spans || []) {
        if (s.spanId in out.spans) throw new Error('span ' + s.spanId + ' twice');
        out.spans[s.spanId] = {
          resource, scope,
          traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || '',
          traceState: s.traceState || '',
          name: s.name, kind: Number(s.kind || 0),
          startTimeUnixNano: String(s.startTimeUnixNano), endTimeUnixNano: String(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          droppedAttributesCount: Number(s.droppedAttributesCount || 0),
          events: (s.events || []).map((e) => ({
            timeUnixNano: String(e.timeUnixNano), name: e.name, attributes: attrs(e.attributes),
            droppedAttributesCount: Number(e.droppedAttributesCount || 0),
          })),
          droppedEventsCount: Number(s.droppedEventsCount || 0),
          links: (s.links || []).length,
          status: { code: Number((s.status && s.status.code) || 0), message: (s.status && s.status.message) || '' },
          flags: Number(s.flags || 0),
        };
      }
    }
  }
  return out;
}

// Differences between two normalized requests, as lines ("span X: name: a != b").
function diff(a, b, path = '') {
  const lines = [];
  const ta = typeof a, tb = typeof b;
  if (ta !== 'object' || tb !== 'object' || a === null || b === null) {
    if (a !== b) lines.push(`${path}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
    return lines;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) lines.push(...diff(a[k], b[k], path ? path + '.' + k : k));
  return lines;
}

module.exports = { Request, decodeProto, normalize, diff };
