// bench.mjs: time to first paint and frame times while panning, for a big
// export (not a test: figures for the notes).
// usage: node tests/web/bench.mjs TRACE.html
// Prints: file size, first paint (ms after navigation start, from the
// page's own performance.now() at its first timeline draw), and while the
// mouse drags the timeline: the draw time per frame (median, p95, max)
// and the interval between animation frames (median, p95).
import { launch, watchedPage } from './browser.mjs';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

const file = resolve(process.argv[2]);
const pct = (a, p) => { const s = a.slice().sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]; };
const f1 = (x) => x.toFixed(1);

const b = await launch();
try {
  const { page, log } = await watchedPage(b.context);
  const t0 = Date.now();
  await page.goto('file://' + file);
  await page.waitForFunction(() => window.__spanline && window.__spanline.stats().firstPaint > 0, null, { timeout: 120000 });
  const wall = Date.now() - t0;
  const st = await page.evaluate(() => window.__spanline.stats());
  console.log(`file ${(statSync(file).size / 1e6).toFixed(1)} MB, ${st.spans} spans, ${st.traces} traces; view: ${st.trace} (${st.traceSpans} spans, ${st.rows} rows)`);
  const marks = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name.replace('spanline:', ''), m.startTime])));
  const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
  console.log(`first paint ${f1(st.firstPaint)} ms after navigation start (goto to painted: ${wall} ms)`);
  console.log(`  file read by ${f1(nav.responseEnd)} ms; scripts start ${f1(marks.start)}, data parsed ${f1(marks.parsed)}, ingested ${f1(marks.ingested)}, laid out ${f1(marks.ready)}, painted ${f1(st.firstPaint)}`);

  async function pan(label) {
    const box = await page.locator('#flame').boundingBox();
    // record rAF intervals and draw times while dragging
    await page.evaluate(() => {
      window.__bench = { gaps: [], last: performance.now(), frames0: window.__spanline.stats().frames, run: true };
      const tick = (t) => {
        const B = window.__bench;
        if (!B.run) return;
        B.gaps.push(t - B.last); B.last = t;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.8, y);
    await page.mouse.down();
    for (let i = 0; i < 120; i++) {
      const x = box.x + box.width * (0.8 - 0.6 * ((i % 60) / 60));
      await page.mouse.move(x, y + (i % 2));
    }
    await page.mouse.up();
    const r = await page.evaluate(() => {
      const B = window.__bench, st = window.__spanline.stats();
      B.run = false;
      const frames = st.frames - B.frames0;
      return { gaps: B.gaps.slice(1), draws: st.drawTimes.slice(-frames), frames };
    });
    console.log(`${label}: ${r.frames} frames drawn; draw per frame median ${f1(pct(r.draws, 50))} ms, p95 ${f1(pct(r.draws, 95))} ms, max ${f1(Math.max(...r.draws))} ms; frame interval median ${f1(pct(r.gaps, 50))} ms, p95 ${f1(pct(r.gaps, 95))} ms`);
  }
  await pan('pan, fitted');
  // zoomed in 20x around the middle
  await page.evaluate(() => { for (let i = 0; i < 9; i++) document.dispatchEvent(new KeyboardEvent('keydown', { key: '+' })); });
  await pan('pan, zoomed in');
  if (log.errors.length) console.log('console errors:', log.errors);
} finally {
  await b.close();
}
