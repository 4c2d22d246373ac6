// layout.js: one trace (or all of them) laid out for drawing and listing:
// the spans in tree order with their depths, and rows of bars that never
// overlap.
//
// Key idea: in tree order (children by start) each span takes the first
// row below its parent's whose last bar ended before it starts, so
// concurrent siblings (coroutines, threads) get rows of their own and a
// row's bars are disjoint; sorted by start, a row is searched by bisection
// when drawing or hit-testing, and a span still open holds its row to the
// end.
(function (S) {
  'use strict';

  function build(model, trace) {
    const spans = model.spansOf(trace);
    const n = spans.length;
    // serial -> position: a typed array when the trace is a good part of
    // everything (All traces), else a map
    const dense = n * 4 >= model.count;
    const table = () => (dense ? new Int32Array(model.count).fill(-1) : new Map());
    const put = dense ? (t, k, v) => { t[k] = v; } : (t, k, v) => { t.set(k, v); };
    const get = dense ? (t, k) => { const v = t[k]; return v < 0 ? undefined : v; } : (t, k) => t.get(k);
    const pos = table();
    for (let i = 0; i < n; i++) put(pos, spans[i], i);
    // children lists by position (linked arrays: first child, next sibling)
    const kids = new Array(n);
    const roots = [];
    for (let i = 0; i < n; i++) {
      const p = model.parent[spans[i]];
      const pi = p >= 0 ? get(pos, p) : undefined;
      if (pi === undefined || pi === i) roots.push(i);
      else (kids[pi] || (kids[pi] = [])).push(i);
    }
    const byStart = (a, b) => {
      const x = model.start[spans[a]], y = model.start[spans[b]];
      if (x !== y) return (Number.isNaN(x) ? Infinity : x) - (Number.isNaN(y) ? Infinity : y) || 0;
      return spans[a] - spans[b];
    };
    roots.sort(byStart);
    const order = new Int32Array(n);    // serials in tree order
    const depth = new Int32Array(n);    // by tree position
    const row = new Int32Array(n).fill(-1);
    const rowEnd = [];                  // per row: where its last bar ends
    const rowOf = table();              // serial -> row
    const index = table();              // serial -> tree position
    let k = 0;
    // iterative depth-first walk; a parent is placed before its children
    const stack = [];
    for (let r = roots.length - 1; r >= 0; r--) stack.push(roots[r], 0, -1);
    const seen = new Uint8Array(n);
    while (stack.length) {
      const parentRow = stack.pop(), d = stack.pop(), i = stack.pop();
      if (seen[i]) continue;
      seen[i] = 1;
      const s = spans[i];
      order[k] = s; depth[k] = d; put(index, s, k);
      const a = model.start[s];
      let r = -1;
      if (!Number.isNaN(a)) {
        const e = Number.isNaN(model.dur[s]) ? Infinity : a + model.dur[s];
        r = parentRow + 1;
        while (r < rowEnd.length && rowEnd[r] > a) r++;
        rowEnd[r] = e;
        put(rowOf, s, r);
      }
      row[k] = r;
      k++;
      const c = kids[i];
      if (c) {
        c.sort(byStart);
        for (let j = c.length - 1; j >= 0; j--) stack.push(c[j], d + 1, r < 0 ? parentRow : r);
      }
    }
    // rows of bars, each sorted by start
    const counts = new Int32Array(rowEnd.length);
    for (let j = 0; j < k; j++) if (row[j] >= 0) counts[row[j]]++;
    const rows = [];
    for (let r = 0; r < rowEnd.length; r++) rows.push({ ids: new Int32Array(counts[r]), starts: new Float64Array(counts[r]), n: 0 });
    for (let j = 0; j < k; j++) {
      const r = row[j];
      if (r < 0) continue;
      const R = rows[r];
      R.ids[R.n++] = order[j];
    }
    for (const R of rows) {
      // tree order mostly places bars in start order already
      let sorted = true;
      for (let j = 1; j < R.n && sorted; j++) sorted = model.start[R.ids[j - 1]] <= model.start[R.ids[j]];
      if (!sorted) R.ids.sort((x, y) => model.start[x] - model.start[y] || x - y);
      for (let j = 0; j < R.n; j++) R.starts[j] = model.start[R.ids[j]];
    }
    return {
      trace, order: order.subarray(0, k), depth: depth.subarray(0, k), rows, size: k,
      rowOf: (s) => get(rowOf, s),       // row of serial s (undefined: not drawn)
      indexOf: (s) => get(index, s),     // tree position of serial s
    };
  }

  // The layout of trace, cached until the trace changes.
  function of(model, trace) {
    if (!trace.layout || trace.layout.version !== trace.version) {
      trace.layout = build(model, trace);
      trace.layout.version = trace.version;
    }
    return trace.layout;
  }

  // First index in sorted array a (length n) with a[i] > x.
  function upper(a, n, x) {
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid] <= x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  S.layout = { of, build, upper };
})(window.Spanline = window.Spanline || {});
