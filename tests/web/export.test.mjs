// `spanline export FILE --to html` in headless Chromium: the file opens
// with no console error and no request beyond itself, draws a bar per
// span, searches, shows a clicked span's attributes, shows the report as
// `spanline report` prints it, zooms and pans, keeps hostile text as text,
// and renders the js-logger Polykey fixture.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, watchedPage } from './browser.mjs';
import { FIXTURES, records, exportHtml, spanline, tempDir } from './support.mjs';

const BASIC = join(FIXTURES, 'view_basic.jsonl');
const POLYKEY = join(FIXTURES, 'js-logger/polykey-cli-agent-start.jsonl');
let browser, tmp;

before(async () => { browser = await launch(); tmp = tempDir(); });
after(async () => { await browser.close(); tmp.remove(); });

// Opens an exported file; resolves when its timeline has been drawn.
async function open(file) {
  const { page, log } = await watchedPage(browser.context);
  await page.goto('file://' + file);
  await page.waitForFunction(() => window.__spanline && window.__spanline.stats().frames > 0);
  return { page, log };
}

const stats = (page) => page.evaluate(() => window.__spanline.stats());
// after a change: wait for the next frames of the timeline and the lists
const settle = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

function onlyItself(log, file) {
  assert.deepEqual(log.requests, ['file://' + file], 'requests made by the page');
  assert.deepEqual(log.errors, [], 'console errors');
}

test('the export opens with no console error and no network request, a bar per span', async () => {
  const out = tmp.path('basic.html');
  exportHtml(BASIC, out);
  const { page, log } = await open(out);
  const starts = records(BASIC).filter((r) => r.type === 'start');
  const st = await stats(page);
  assert.equal(st.spans, starts.length);
  assert.equal(st.traces, new Set(starts.map((r) => r.trace)).size);
  // one trace: every span of it is one bar
  const trace = starts[0].trace;
  assert.ok(await page.evaluate((id) => window.__spanline.showTrace(id), trace));
  await settle(page);
  const mine = starts.filter((r) => r.trace === trace).length;
  const s2 = await stats(page);
  assert.equal(s2.traceSpans, mine);
  assert.equal(s2.bars, mine);
  assert.equal(s2.listed, mine);
  onlyItself(log, out);
  await page.close();
});

test('search narrows the span list', async () => {
  const out = tmp.path('basic.html');
  exportHtml(BASIC, out);
  const { page, log } = await open(out);
  await page.evaluate(() => window.__spanline.showTrace('all'));
  await settle(page);
  const all = (await stats(page)).listed;
  const starts = records(BASIC).filter((r) => r.type === 'start');
  await page.fill('#search', 'cache');
  await page.waitForFunction((n) => window.__spanline.stats().listed === n, starts.filter((r) => r.name.includes('cache')).length);
  assert.ok((await stats(page)).listed < all);
  const names = await page.$$eval('#span-list .row:not([hidden]) .name', (els) => els.map((e) => e.textContent));
  assert.ok(names.length > 0 && names.every((n) => n.includes('cache')), names.join(','));
  // an attribute: key=value
  await page.fill('#search', 'sql=select');
  await page.waitForFunction((n) => window.__spanline.stats().listed === n, starts.filter((r) => r.attrs && String(r.attrs.sql || '').includes('select')).length);
  // a duration and a status
  await page.fill('#search', 'status:error');
  const errors = records(BASIC).filter((r) => r.type === 'end' && r.status === 'error').length;
  await page.waitForFunction((n) => window.__spanline.stats().listed === n, errors);
  await page.fill('#search', '');
  await page.waitForFunction((n) => window.__spanline.stats().listed === n, all);
  onlyItself(log, out);
  await page.close();
});

test('clicking a bar shows the span: attributes, events, error, parents', async () => {
  const out = tmp.path('basic.html');
  exportHtml(BASIC, out);
  const { page } = await open(out);
  const recs = records(BASIC);
  // the span with both attributes and an event
  const evt = recs.find((r) => r.type === 'event');
  const start = recs.find((r) => r.type === 'start' && r.id === evt.id);
  const end = recs.find((r) => r.type === 'end' && r.id === evt.id);
  const parent = recs.find((r) => r.type === 'start' && r.id === start.parent);
  const at = await page.evaluate((id) => window.__spanline.barOf(id), start.id);
  assert.ok(at, 'bar found');
  await page.mouse.click(at.x, at.y);
  await page.waitForFunction((id) => window.__spanline.stats().selected === id, start.id);
  const details = await page.textContent('#details');
  assert.ok(details.includes(start.name));
  for (const [k, v] of Object.entries(start.attrs)) {
    const row = await page.textContent('#attrs');
    assert.ok(row.includes(k) && row.includes(String(v)), `attribute ${k}`);
  }
  assert.ok(details.includes(evt.name), 'event shown');
  assert.ok(details.includes(end.error), 'error shown');
  assert.ok(details.includes(parent.name), 'parent chain shown');
  assert.match(details, /self time/);
  // the list selects the same span
  assert.equal(await page.$eval('#span-list .row.sel .name', (e) => e.textContent), start.name);
  await page.close();
});

test('the report tab shows the rows of `spanline report`', async () => {
  const out = tmp.path('basic.html');
  exportHtml(BASIC, out);
  const { page } = await open(out);
  await page.click('#tab-report');
  const cli = spanline('report', BASIC);
  assert.equal(cli.status, 0, cli.stderr);
  const lines = cli.stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
  const rows = await page.$$eval('#report tr', (trs) => trs.map((tr) => Array.from(tr.children).map((c) => c.textContent.trim())));
  assert.deepEqual(rows, lines);
  // a row leads to its spans
  await page.click('#report tbody tr:first-child');
  await page.waitForFunction(() => !document.getElementById('view-timeline').hidden);
  assert.equal(await page.inputValue('#search'), 'name:' + lines[1][0]);
  await page.close();
});

test('wheel and keys zoom, drag pans, 0 fits again', async () => {
  const out = tmp.path('basic.html');
  exportHtml(BASIC, out);
  const { page } = await open(out);
  const view = () => page.evaluate(() => window.__spanline.view());
  const fitted = await view();
  const box = await page.locator('#flame').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -300);
  await settle(page);
  const zoomed = await view();
  assert.ok(zoomed.nsPerPx < fitted.nsPerPx, 'wheel up zooms in');
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 200, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  const panned = await view();
  assert.ok(panned.t0 > zoomed.t0, 'dragging left moves later in time');
  await page.focus('#chart');
  await page.keyboard.press('-');
  assert.ok((await view()).nsPerPx > panned.nsPerPx, '- zooms out');
  await page.keyboard.press('0');
  const back = await view();
  assert.equal(back.nsPerPx, fitted.nsPerPx);
  assert.equal(back.t0, fitted.t0);
  await page.close();
});

test('span text is shown as text: no markup, no script end, line separators kept', async () => {
  const file = tmp.path('hostile.jsonl');
  const name = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">\u2028\u2029<!--';
  const id = 'f'.repeat(32);
  writeFileSync(file, [
    { type: 'start', id, trace: id, name, ts: 1764000000000000000, lane: 1, attrs: { '</script>': '<b>bold</b>' } },
    { type: 'end', id, ts: 1764000000000500000, status: 'ok' },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n');
  const out = tmp.path('hostile.html');
  exportHtml(file, out);
  const { page, log } = await open(out);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  const listed = await page.$eval('#span-list .row:not([hidden]) .name', (e) => e.textContent);
  assert.equal(listed, name);
  await page.click('#span-list .row:not([hidden])');
  assert.ok((await page.textContent('#attrs')).includes('<b>bold</b>'));
  onlyItself(log, out);
  await page.close();
});

test('the js-logger Polykey fixture renders', async () => {
  const out = tmp.path('polykey.html');
  exportHtml(POLYKEY, out);
  const { page, log } = await open(out);
  const recs = records(POLYKEY);
  const starts = recs.filter((r) => r.type === 'start');
  const st = await stats(page);
  assert.equal(st.spans, starts.length);
  assert.equal(st.traces, starts.filter((r) => !r.parentId).length);
  assert.equal(st.listed, starts.length);
  assert.ok(st.bars > 0 && st.rows > 1, JSON.stringify(st));
  assert.equal(st.open, starts.length - recs.filter((r) => r.type === 'stop').length);
  onlyItself(log, out);
  await page.close();
});
