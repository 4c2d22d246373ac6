// `spanline serve FILE` in headless Chromium: the live page shows the file,
// a record appended to the file appears in two pages at once, a running
// span grows until its end arrives, and a client that never reads or never
// finishes its request does not hold up the others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { launch, watchedPage } from './browser.mjs';
import { BIN, ENV, tempDir } from './support.mjs';

const hex = (n) => n.toString(16).padStart(32, '0');
const nowNs = () => BigInt(Date.now()) * 1000000n;
const line = (r) => JSON.stringify(r).replace(/"ts":"(\d+)"/, '"ts":$1') + '\n';
const start = (n, parent, name, ts, attrs) => line({ type: 'start', id: hex(n), trace: hex(1), ...(parent ? { parent: hex(parent) } : {}), name, ts: String(ts), lane: 1, ...(attrs ? { attrs } : {}) });
const end = (n, ts, status = 'ok') => line({ type: 'end', id: hex(n), ts: String(ts), status });

let browser, tmp, server, url, file;

before(async () => {
  browser = await launch();
  tmp = tempDir();
  file = tmp.path('live.jsonl');
  const t = nowNs();
  writeFileSync(file, start(1, 0, 'request', t, { path: '/buy' }) + start(2, 1, 'auth', t + 1000000n) + end(2, t + 3000000n));
  server = spawn(BIN, ['serve', file, '--port', '0'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => process.stderr.write('[serve] ' + d));
  url = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d) => { out += d; const m = /^(http:\/\/\S+)\n/.exec(out); if (m) resolve(m[1]); });
    server.on('exit', (code) => reject(new Error('serve exited with ' + code)));
  });
});

after(async () => {
  await browser.close();
  const exited = new Promise((r) => server.on('exit', (code, sig) => r([code, sig])));
  server.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 143, 'ended by SIGTERM: 128 + 15');
  tmp.remove();
});

async function openLive() {
  const { page, log } = await watchedPage(browser.context);
  await page.goto(url);
  await page.waitForFunction(() => window.__spanline && window.__spanline.stats().live === 'on' && window.__spanline.stats().spans >= 2);
  return { page, log };
}

test('a record appended to the file appears in two pages at once', async () => {
  const a = await openLive(), b = await openLive();
  const t0 = Date.now();
  appendFileSync(file, start(3, 1, 'db.query', nowNs(), { sql: 'select 1' }));
  const seen = await Promise.all([a, b].map(async ({ page }) => {
    await page.waitForFunction((id) => window.__spanline.span(id) !== null, hex(3), { timeout: 10000, polling: 20 });
    return Date.now() - t0;
  }));
  console.log(`appended span shown after ${seen.join(' and ')} ms`);
  for (const { page } of [a, b]) {
    const st = await page.evaluate(() => window.__spanline.stats());
    assert.equal(st.spans, 3);
    assert.equal(st.open, 2);   // request and db.query run
  }
  for (const { page, log } of [a, b]) {
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.requests, [url, url + 'events']);
    await page.close();
  }
});

test('a running span grows on screen until its end arrives', async () => {
  const { page, log } = await openLive();
  const span = () => page.evaluate((id) => window.__spanline.span(id), hex(3));
  const first = await span();
  assert.equal(first.status, 'open');
  await page.waitForFunction(([id, e]) => window.__spanline.span(id).elapsed > e, [hex(3), first.elapsed]);
  const row = await page.$$eval('#span-list .row:not([hidden])', (rows) => rows.map((r) => r.textContent).find((t) => t.includes('db.query')));
  assert.match(row, /≥ .*running/);
  appendFileSync(file, end(3, nowNs(), 'error'));
  await page.waitForFunction((id) => window.__spanline.span(id).status === 'error', hex(3), { timeout: 10000 });
  const done = await span();
  assert.ok(done.dur > 0);
  assert.equal(done.self, done.dur);     // a leaf: self time is all of it, from the query
  assert.deepEqual(log.errors, []);
  await page.close();
});

test('a client that never reads, or never ends its request, holds nobody up', async () => {
  const port = Number(new URL(url).port);
  // one stalled request head, one stream that is never read
  const stalled = net.connect(port, '127.0.0.1', () => stalled.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
  const deaf = net.connect(port, '127.0.0.1', () => deaf.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
  deaf.pause();
  stalled.on('error', () => {}); deaf.on('error', () => {});
  const { page, log } = await openLive();
  const before = await page.evaluate(() => window.__spanline.stats().spans);
  let text = '';
  const t = nowNs();
  for (let i = 0; i < 200; i++) text += start(100 + i, 1, 'batch.item', t + BigInt(i)) + end(100 + i, t + BigInt(i) + 500n);
  appendFileSync(file, text);
  await page.waitForFunction((n) => window.__spanline.stats().spans === n, before + 200, { timeout: 10000 });
  // and a fresh page still loads
  const again = await watchedPage(browser.context);
  await again.page.goto(url);
  await again.page.waitForFunction((n) => window.__spanline && window.__spanline.stats().spans === n, before + 200);
  stalled.destroy(); deaf.destroy();
  assert.deepEqual(log.errors, []);
  await page.close(); await again.page.close();
});
