// receiver.js --port-file F --out F [--fail N] [--reject N] [--max-seconds S]
//
// A small OTLP/HTTP trace receiver on 127.0.0.1 (a port the kernel picks,
// written to --port-file) for the end-to-end tests: every POST /v1/traces is
// decoded with the OpenTelemetry JS packages' definitions (protobuf) or
// parsed (JSON), validated, and each span is appended to --out as one line
// "traceId spanId name". The first N requests (--fail N) are refused in
// turn with 503 and with 429 + Retry-After: 1, so a sender must retry;
// refused requests record nothing. --reject N answers every accepted
// request with a partial success naming N rejected spans (those spans are
// still recorded: the sender must count them as rejected, not sent). It
// stops by itself after --max-seconds (default 120), or on SIGTERM.
'use strict';

const fs = require('fs');
const http = require('http');
const { decodeProto, normalize } = require('./otlp');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args['port-file'] || !args.out) {
  console.error('usage: receiver.js --port-file F --out F [--fail N] [--max-seconds S]');
  process.exit(2);
}
let failLeft = Number(args.fail || 0);
let refused = 0;
fs.writeFileSync(args.out, '');

// ExportTraceServiceResponse { partial_success (1) { rejected_spans (1), error_message (2) } }
const reject = Number(args.reject || 0);
const REJECT_MESSAGE = 'too many attributes';
function partialSuccessJson() {
  return reject ? { partialSuccess: { rejectedSpans: String(reject), errorMessage: REJECT_MESSAGE } } : {};
}
function partialSuccessProto() {
  if (!reject) return Buffer.alloc(0);
  const varint = (n) => { const out = []; do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n); return out; };
  const msg = Buffer.from(REJECT_MESSAGE);
  const inner = Buffer.from([0x08, ...varint(reject), 0x12, ...varint(msg.length), ...msg]);
  return Buffer.from([0x0a, ...varint(inner.length), ...inner]);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    if (failLeft > 0) {
      failLeft--;
      refused++;
      if (refused % 2 === 1) res.writeHead(503).end('unavailable');
      else res.writeHead(429, { 'Retry-After': '1' }).end('slow down');
      return;
    }
    const body = Buffer.concat(chunks);
    const type = req.headers['content-type'] || '';
    let request, json = false;
    try {
      if (type.startsWith('application/x-protobuf')) {
        request = decodeProto(body);
      } else if (type.startsWith('application/json')) {
        request = JSON.parse(body.toString('utf8'));
        json = true;
      } else {
        throw new Error('unexpected content type ' + type);
      }
      const spans = normalize(request).spans;
      const out = Object.values(spans).map((s) => `${s.traceId} ${s.spanId} ${s.name}\n`).join('');
      fs.appendFileSync(args.out, out);
      if (args.headers) fs.appendFileSync(args.headers, JSON.stringify(req.headers) + '\n');
      res.writeHead(200, { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? JSON.stringify(partialSuccessJson()) : partialSuccessProto());
    } catch (err) {
      console.error('receiver: bad request: ' + err.message);
      res.writeHead(400).end(err.message);
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(args['port-file'], String(server.address().port));
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(() => process.exit(0), Number(args['max-seconds'] || 120) * 1000).unref();
