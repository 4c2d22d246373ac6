// screenshots.mjs: the pictures in docs/ (not a test): each view of the
// page, from the bundled example and fixtures.
// usage: node tests/web/screenshots.mjs   (from a built checkout)
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, watchedPage } from './browser.mjs';
import { ROOT, BIN, ENV, FIXTURES, exportHtml, tempDir } from './support.mjs';

const docs = join(ROOT, 'docs');
mkdirSync(docs, { recursive: true });
const tmp = tempDir();
const b = await launch();
const settle = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

async function open(url) {
  const { page } = await watchedPage(b.context);
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto(url);
  await page.waitForFunction(() => window.__spanline && window.__spanline.stats().frames > 0 && window.__spanline.stats().spans > 0);
  return page;
}
async function shot(page, name) {
  await settle(page);
  await page.screenshot({ path: join(docs, name) });
  console.log('docs/' + name);
}

try {
  // the example's trace: timeline, list, details of a failed order
  const shop = tmp.path('shop.jsonl');
  const r = spawnSync('lua5.4', [join(ROOT, 'examples/shop.lua'), shop], { env: ENV, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const html = tmp.path('shop.html');
  exportHtml(shop, html);
  let page = await open('file://' + html);
  const traces = await page.evaluate(() => window.__spanline.traces());
  const big = traces.reduce((a, t) => (t.spans > a.spans ? t : a));
  await page.evaluate((id) => window.__spanline.showTrace(id), big.id);
  await settle(page);
  const failed = await page.evaluate(() => {
    const rows = Array.from(document.querySelectorAll('#span-list .row:not([hidden])'));
    const row = rows.find((el) => el.textContent.includes('error') && el.textContent.includes('order'));
    return row ? row.dataset.serial : null;
  });
  if (failed !== null) await page.click(`#span-list .row[data-serial="${failed}"]`);
  await shot(page, 'web-timeline.png');
  await page.fill('#search', 'status:error');
  await page.waitForTimeout(300);
  await shot(page, 'web-search.png');
  await page.fill('#search', '');
  await page.click('#tab-report');
  await shot(page, 'web-report.png');
  await page.close();

  // the js-logger Polykey agent start: 759 spans
  const pk = tmp.path('polykey.html');
  exportHtml(join(FIXTURES, 'js-logger/polykey-cli-agent-start.jsonl'), pk);
  page = await open('file://' + pk);
  const kid = await page.evaluate(() => {
    const rows = Array.from(document.querySelectorAll('#span-list .row:not([hidden])'));
    const row = rows.find((el) => el.textContent.includes('ss-NodeGraph'));
    return row ? row.dataset.serial : null;
  });
  if (kid !== null) await page.click(`#span-list .row[data-serial="${kid}"]`);
  await shot(page, 'web-polykey.png');
  await page.close();

  // the live page: a request still running while spans arrive
  const live = tmp.path('live.jsonl');
  const hex = (n) => n.toString(16).padStart(32, '0');
  const now = () => String(BigInt(Date.now()) * 1000000n);
  const rec = (o) => JSON.stringify(o).replace(/"ts":"(\d+)"/, '"ts":$1') + '\n';
  writeFileSync(live, rec({ type: 'start', id: hex(1), trace: hex(1), name: 'import.batch', ts: now(), lane: 1, attrs: { file: 'orders.csv' } }));
  const server = spawn(BIN, ['serve', live, '--port', '0'], { env: ENV, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((res) => server.stdout.on('data', (d) => res(String(d).trim())));
  page = await open(url);
  for (let i = 0; i < 6; i++) {
    const id = 10 + i;
    appendFileSync(live, rec({ type: 'start', id: hex(id), trace: hex(1), parent: hex(1), name: i % 3 === 2 ? 'db.write' : 'parse.row', ts: now(), lane: 1 }));
    await page.waitForTimeout(120 + 40 * i);
    if (i < 5) appendFileSync(live, rec({ type: 'end', id: hex(id), ts: now(), status: i === 3 ? 'error' : 'ok', ...(i === 3 ? { error: 'bad row 4' } : {}) }));
  }
  await page.waitForTimeout(400);
  await shot(page, 'web-live.png');
  await page.close();
  server.kill('SIGTERM');
} finally {
  await b.close();
  tmp.remove();
}
