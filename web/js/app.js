// app.js: the page put together: reads the embedded spans (or connects to
// the live stream), wires the trace picker, timeline, span list, details
// and report to one selection, and exposes window.__spanline for tests.
(function (S) {
  'use strict';
  const $ = (id) => document.getElementById(id);

  const model = new S.Model();
  const state = { trace: null, selected: -1, pred: null, query: '', view: 'timeline', liveState: '' };

  const flame = new S.Flame($('flame'), model, {
    select: (s, from) => select(s, from),
    hover: (s, x, y) => tip(s, x, y),
  });
  const picker = new S.TracePicker($('trace-list'), $('trace-filter'), $('trace-sort'), model, (t) => showTrace(t));
  const list = new S.SpanList($('span-list'), $('span-head'), model, flame, (s, from) => select(s, from));
  const details = new S.Details($('details'), model, (s, from) => select(s, from));
  const report = new S.Report($('report'), model, (name) => {
    const q = /[\s"]/.test(name) ? 'name:"' + name.replace(/"/g, '') + '"' : 'name:' + name;
    $('search').value = q;
    setQuery(q);
    setView('timeline');
  });

  // ---- trace and selection ----

  function showTrace(t, keepView) {
    if (!t) return;
    state.trace = t;
    const L = S.layout.of(model, t);
    flame.setLayout(L, keepView);
    list.setLayout(L);
    picker.select(t);
    applyMatch();
    if (state.selected >= 0 && L.indexOf(state.selected) === undefined) select(-1);
    saveHash();
  }

  function select(s, from) {
    state.selected = s;
    if (s >= 0 && state.trace && !state.trace.all && model.trace[s] !== state.trace.key) {
      showTrace(model.traceByKey.get(model.trace[s]));
    }
    flame.selected = s;
    if (s >= 0 && from !== 'chart') flame.reveal(s);
    flame.request();
    list.select(s);
    details.show(s);
    saveHash();
  }

  function tip(s, x, y) {
    const el = $('tip');
    if (s < 0) { el.hidden = true; return; }
    const F = S.format;
    const open = Number.isNaN(model.dur[s]);
    const d = open ? '≥ ' + F.duration(model.end(s) - model.start[s]) : F.duration(model.dur[s]);
    el.textContent = model.str(model.name[s]) + '  ' + d + '  (self ' + F.duration(Number.isNaN(model.self[s]) ? null : model.self[s]) + ', ' + model.statusText(s) + ')';
    el.hidden = false;
    const w = el.offsetWidth, cw = flame.width;
    el.style.left = Math.max(0, Math.min(x + 12, cw - w - 4)) + 'px';
    el.style.top = (y + 16 > flame.height - 24 ? y - 28 : y + 16) + 'px';
  }

  // ---- search ----

  function setQuery(q) {
    state.query = q;
    state.pred = S.search.compile(q);
    list.setFilter(state.pred);
    applyMatch();
  }

  function applyMatch() {
    if (!state.pred || !state.trace) { flame.match = null; flame.request(); showCounts(); return; }
    const mark = new Uint8Array(model.count);
    for (const s of model.spansOf(state.trace)) if (state.pred(model, s)) mark[s] = 1;
    flame.match = mark;
    flame.request();
    showCounts();
  }

  let searchTimer = 0;
  $('search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => setQuery(e.target.value), 120);
  });

  // ---- top bar ----

  function showCounts() {
    const F = S.format, t = model.totals, el = $('counts');
    el.replaceChildren();
    const add = (text, cls) => {
      const s = document.createElement('span');
      s.textContent = text;
      if (cls) s.className = cls;
      if (el.childNodes.length) el.append(' · ');
      el.append(s);
    };
    if (state.pred && state.trace) add(F.count(list.items.length) + ' of ' + F.count(state.trace.all ? t.spans : state.trace.spans.length) + ' match');
    add(F.count(t.spans) + ' spans');
    add(F.count(model.traces.length) + (model.traces.length === 1 ? ' trace' : ' traces'));
    if (t.errors) add(F.count(t.errors) + (t.errors === 1 ? ' error' : ' errors'), 'err');
    if (t.open) add(F.count(t.open) + (model.live ? ' running' : ' open'), 'warn');
    if (t.abandoned) add(F.count(t.abandoned) + ' abandoned', 'warn');
    const bad = model.info.bad_lines;
    if (bad) add(F.count(bad) + ' bad lines skipped', 'warn');
  }

  function showSource() {
    const i = model.info;
    const parts = [i.file, i.service && 'service ' + i.service, i.host].filter(Boolean);
    $('source').textContent = parts.join(' · ');
    $('source').title = parts.join('\n');
  }

  function setView(v) {
    state.view = v;
    for (const b of document.querySelectorAll('.tabs button')) b.setAttribute('aria-selected', String(b.dataset.view === v));
    $('view-timeline').hidden = v !== 'timeline';
    $('view-report').hidden = v !== 'report';
    $('main').classList.toggle('report', v === 'report');
    if (v === 'report') report.render();
    else flame.resize();
  }
  for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => setView(b.dataset.view));

  // the splitter between timeline and span list
  $('splitter').addEventListener('pointerdown', (e) => {
    const chart = $('chart'), y0 = e.clientY, h0 = chart.offsetHeight;
    const move = (ev) => { chart.style.height = Math.max(80, h0 + ev.clientY - y0) + 'px'; };
    const up = () => { window.removeEventListener('pointermove', move); window.removeEventListener('pointerup', up); };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  });

  document.addEventListener('keydown', (e) => {
    const inInput = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
    if (e.key === 'Escape') {
      if (inInput && e.target.id === 'search' && e.target.value) { e.target.value = ''; setQuery(''); return; }
      select(-1);
      return;
    }
    if (inInput || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') { $('search').focus(); e.preventDefault(); return; }
    const inList = e.target.closest && e.target.closest('.vlist');
    if (inList && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) return;
    if (state.view === 'timeline' && flame.key(e)) e.preventDefault();
  });

  // ---- the URL: #trace=ID&span=ID (a shareable position) ----

  function saveHash() {
    if (!state.trace) return;
    const p = new URLSearchParams();
    p.set('trace', state.trace.all ? 'all' : state.trace.id);
    if (state.selected >= 0) p.set('span', model.id[state.selected]);
    history.replaceState(null, '', '#' + p.toString());
  }

  function restore() {
    const p = new URLSearchParams(location.hash.slice(1));
    const tid = p.get('trace'), sid = p.get('span');
    let t = null;
    if (tid === 'all') t = model.all;
    else if (tid) t = model.traces.find((x) => x.id === tid) || null;
    if (!t) t = model.traces.length === 1 ? model.traces[0] : model.traces.length ? model.all : null;
    if (t) showTrace(t);
    if (sid) {
      const s = model.findId(sid);
      if (s >= 0) select(s);
    }
  }

  // ---- data in ----

  function refreshAll(first) {
    picker.refresh();
    showSource();
    showCounts();
    if (first || !state.trace) { restore(); return; }
    const cur = state.trace.all ? model.all : model.traceByKey.get(state.trace.key);
    if (cur) showTrace(cur, true);
    if (state.selected >= 0 && state.selected < model.count) details.show(state.selected);
  }

  performance.mark('spanline:start');
  const block = $('spanline-data');
  let data = {};
  try { data = JSON.parse(block.textContent || '{}'); } catch (e) { console.error('spanline: bad data block', e); }
  details.show(-1);
  let firstBatch = true;
  if (data.live) {
    const liveEl = $('live');
    liveEl.hidden = false;
    const setLive = (st) => {
      state.liveState = st;
      liveEl.className = 'live ' + (st === 'on' ? 'on' : 'off');
      liveEl.textContent = st === 'on' ? '● live' : st === 'closed' ? '○ stopped' : '○ reconnecting';
    };
    setLive('off');
    S.live.connect(data.live, model, (what) => {
      if (what.spans) { refreshAll(firstBatch); firstBatch = false; }
      if (what.report && state.view === 'report') report.render();
    }, setLive);
    // running spans grow: redraw a few times a second while any is open
    setInterval(() => {
      if (model.totals.open > 0) { flame.request(); list.list.request(); picker.list.request(); if (state.selected >= 0) details.show(state.selected); }
    }, 250);
  }
  if (data.spans) {
    performance.mark('spanline:parsed');
    model.ingest(data);
    performance.mark('spanline:ingested');
    refreshAll(true);
    performance.mark('spanline:ready');
  }

  // ---- the test hook ----

  window.__spanline = {
    stats: () => ({
      spans: model.totals.spans, traces: model.traces.length, trace: state.trace ? (state.trace.all ? 'all' : state.trace.id) : null,
      traceSpans: state.trace ? (state.trace.all ? model.totals.spans : state.trace.spans.length) : 0,
      bars: flame.stats.bars, rows: flame.stats.rows, frames: flame.stats.frames, drawMs: flame.stats.drawMs,
      firstPaint: flame.stats.firstPaint, drawTimes: flame.stats.drawTimes.slice(), listed: list.items.length,
      selected: state.selected >= 0 ? model.id[state.selected] : null, live: state.liveState,
      open: model.totals.open, errors: model.totals.errors,
    }),
    traces: () => model.traces.map((t) => ({ id: t.id, name: t.name, spans: t.spans.length })),
    showTrace: (id) => { const t = id === 'all' ? model.all : model.traces.find((x) => x.id === id); if (t) showTrace(t); return !!t; },
    // Centre of a span's bar in page coordinates (after revealing it), or null.
    barOf: (spanId) => {
      const s = model.findId(spanId);
      if (s < 0) return null;
      flame.reveal(s);
      flame.draw();
      const p = flame.where(s);
      if (!p) return null;
      const r = flame.canvas.getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    },
    span: (spanId) => {
      const s = model.findId(spanId);
      if (s < 0) return null;
      return { name: model.str(model.name[s]), status: model.statusText(s), dur: Number.isNaN(model.dur[s]) ? null : model.dur[s], elapsed: model.end(s) - model.start[s], self: Number.isNaN(model.self[s]) ? null : model.self[s] };
    },
    view: () => ({ t0: flame.t0, nsPerPx: flame.nsPerPx, scrollY: flame.scrollY, width: flame.width }),
    draw: () => { flame.draw(); return flame.stats.drawMs; },
  };
})(window.Spanline = window.Spanline || {});
