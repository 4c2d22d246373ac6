// model.js: the spans the page knows: column arrays indexed by serial
// number, filled from batches (web/data.lua writes them), and the traces
// they make up.
//
// Key idea: a batch lists spans by serial, so a live update overwrites the
// rows it carries and a snapshot starts afresh; the string table only
// grows. Traces are regrouped after every batch (linear, at most once a
// frame); layouts are cached per trace until one of its spans changes.
(function (S) {
  'use strict';

  const STATUS_CODE = { ok: 0, error: 1, abandoned: 2, open: 3 };

  class Model {
    constructor() {
      this.reset();
      this.version = 0;
    }

    reset() {
      this.count = 0;
      this.strings = [''];
      this.codes = [];            // status string index -> status code
      this.id = []; this.trace = []; this.parent = []; this.name = []; this.start = [];
      this.dur = []; this.self = []; this.status = []; this.error = []; this.lane = [];
      this.attrs = new Map();     // serial -> { key: value }
      this.events = new Map();    // serial -> [{ name, ts, attrs }]
      this.parentId = new Map();  // serial -> parent id not in the stream (orphans, remote parents)
      this.base = 0n;             // times are ns relative to base (epoch ns)
      this.now = 0;               // "now" for open spans, at nowAt (performance.now())
      this.nowAt = 0;
      this.live = false;
      this.report = null;
      this.info = {};
      this.traces = [];
      this.traceByKey = new Map();
      this.all = { all: true, key: -1, id: '', spans: [], version: 0, layout: null };
      this.totals = { spans: 0, errors: 0, open: 0, abandoned: 0 };
    }

    str(i) { return this.strings[i] || ''; }
    statusText(s) { return this.strings[this.status[s]] || 'open'; }
    // 0 ok, 1 error, 2 abandoned, 3 open, 4 anything else (cached per string)
    statusCode(s) {
      const i = this.status[s];
      let c = this.codes[i];
      if (c === undefined) {
        c = STATUS_CODE[this.strings[i] || 'open'];
        if (c === undefined) c = 4;
        this.codes[i] = c;
      }
      return c;
    }
    isOpen(s) { return Number.isNaN(this.dur[s]) && this.statusText(s) === 'open'; }

    // "now" for spans still open: the stream's clock, moving while live.
    clock() {
      if (!this.live) return this.now;
      return this.now + (performance.now() - this.nowAt) * 1e6;
    }

    // Where a span's bar ends (now, while it is open).
    end(s) {
      const d = this.dur[s];
      if (!Number.isNaN(d)) return this.start[s] + d;
      const now = this.clock();
      return Math.max(this.start[s], now);
    }

    // The span's trace key (a string index): a span under a parent belongs
    // to its parent's trace.
    traceKey(s) { return this.trace[s]; }

    // Adds one batch; returns the number of spans it carried.
    ingest(b) {
      if (b.snapshot) this.reset();
      this.version++;
      if (b.base !== undefined) this.base = BigInt(b.base);
      if (b.now !== null && b.now !== undefined) {
        this.now = b.now;
        this.nowAt = performance.now();
      }
      const from = b.strings_from || 0;
      if (from > this.strings.length) throw new Error('string table gap: have ' + this.strings.length + ', batch starts at ' + from);
      for (let i = 0; i < b.strings.length; i++) this.strings[from + i] = b.strings[i];
      const sp = b.spans;
      const n = sp.n;
      const num = (v) => (v === null ? NaN : v);
      const whole = b.snapshot && n.every((k, i) => k === i);
      if (whole) {
        // a whole stream in serial order (an export): take the columns as they are
        this.id = sp.id; this.trace = sp.trace; this.parent = sp.parent; this.name = sp.name;
        this.status = sp.status; this.error = sp.error; this.lane = sp.lane;
        for (const col of ['start', 'dur', 'self']) {
          const a = sp[col];
          for (let i = 0; i < a.length; i++) if (a[i] === null) a[i] = NaN;
          this[col] = a;
        }
        this.count = n.length;
      }
      for (let i = 0; i < n.length && !whole; i++) {
        const k = n[i];
        this.id[k] = sp.id[i];
        this.trace[k] = sp.trace[i];
        this.parent[k] = sp.parent[i];
        this.name[k] = sp.name[i];
        this.start[k] = num(sp.start[i]);
        this.dur[k] = num(sp.dur[i]);
        this.self[k] = num(sp.self[i]);
        this.status[k] = sp.status[i];
        this.error[k] = sp.error[i];
        this.lane[k] = sp.lane[i];
        this.attrs.delete(k);
        this.events.delete(k);
        this.parentId.delete(k);
        if (k >= this.count) this.count = k + 1;
      }
      for (const [k, ...kv] of b.attrs) {
        const o = {};
        for (let j = 0; j + 1 < kv.length; j += 2) o[this.str(kv[j])] = kv[j + 1];
        this.attrs.set(k, o);
      }
      for (const [k, list] of b.events) {
        this.events.set(k, list.map(([name, ts, attrs]) => ({ name: this.str(name), ts: num(ts), attrs: attrs || {} })));
      }
      for (const [k, pid] of b.parent_id) this.parentId.set(k, pid);
      if (b.report) this.report = b.report;
      if (b.info) this.info = b.info;
      if (b.live !== undefined) this.live = b.live;
      this.touch(n);
      return n.length;
    }

    // Regroups the traces; bumps the version of the traces touched.
    touch(serials) {
      const touched = new Set();
      for (const k of serials) touched.add(this.trace[k]);
      const byKey = new Map();
      const totals = { spans: this.count, errors: 0, open: 0, abandoned: 0 };
      for (let s = 0; s < this.count; s++) {
        if (this.id[s] === undefined) continue;
        const key = this.trace[s];
        let t = byKey.get(key);
        if (!t) {
          t = this.traceByKey.get(key) || { key, id: this.str(key), version: 0, layout: null };
          t.spans = []; t.start = Infinity; t.last = -Infinity; t.open = 0; t.errors = 0; t.abandoned = 0; t.root = -1;
          byKey.set(key, t);
        }
        t.spans.push(s);
        const a = this.start[s];
        if (a < t.start) t.start = a;
        const d = this.dur[s];
        const e = Number.isNaN(d) ? a : a + d;
        if (e > t.last) t.last = e;
        const c = this.statusCode(s);
        if (c === 1) { t.errors++; totals.errors++; }
        else if (c === 2) { t.abandoned++; totals.abandoned++; }
        else if (c === 3) { t.open++; totals.open++; }
        const p = this.parent[s];
        const isRoot = p < 0 || this.trace[p] !== key;
        if (isRoot && (t.root < 0 || a < this.start[t.root])) t.root = s;
      }
      for (const [key, t] of byKey) {
        if (touched.has(key) || !this.traceByKey.has(key)) { t.version++; t.layout = null; }
        if (!Number.isFinite(t.start)) { t.start = NaN; t.last = NaN; }
        t.name = t.root >= 0 ? this.str(this.name[t.root]) : '?';
      }
      this.traceByKey = byKey;
      this.traces = Array.from(byKey.values()).sort((x, y) => (x.start - y.start) || (x.key - y.key));
      this.totals = totals;
      const all = this.all;
      all.spans = null;  // built on demand: every serial
      all.version++;
      all.layout = null;
      all.start = Infinity; all.last = -Infinity; all.open = totals.open; all.errors = totals.errors;
      for (const t of this.traces) {
        if (t.start < all.start) all.start = t.start;
        if (t.last > all.last) all.last = t.last;
      }
      all.name = 'All traces';
    }

    spansOf(trace) {
      if (trace.all) {
        if (!trace.spans) {
          trace.spans = [];
          for (let s = 0; s < this.count; s++) if (this.id[s] !== undefined) trace.spans.push(s);
        }
      }
      return trace.spans;
    }

    // A trace's end: its last finish, or now while one of its spans is open.
    traceEnd(t) {
      return t.open > 0 ? Math.max(t.last, this.clock()) : t.last;
    }

    // Ancestors of s from the root down (not s itself).
    chain(s) {
      const out = [];
      const seen = new Set([s]);
      for (let p = this.parent[s]; p >= 0 && !seen.has(p) && this.id[p] !== undefined; p = this.parent[p]) {
        seen.add(p);
        out.push(p);
      }
      return out.reverse();
    }

    findId(id) {
      for (let s = 0; s < this.count; s++) if (this.id[s] === id) return s;
      return -1;
    }
  }

  S.Model = Model;
})(window.Spanline = window.Spanline || {});
