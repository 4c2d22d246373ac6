// traces.js: the trace picker: every trace (root name, duration, spans,
// errors, still open), filtered and ordered, and "All traces" on top.
(function (S) {
  'use strict';
  const F = () => S.format;

  class TracePicker {
    constructor(box, filterInput, sortSelect, model, onPick) {
      this.model = model;
      this.onPick = onPick;
      this.current = null;
      this.items = [];
      this.filter = '';
      this.sort = 'start';
      this.list = new S.VList(box, 44, (el, i) => this.renderRow(el, i), 'row trace-row');
      box.addEventListener('click', (e) => {
        const i = this.list.indexOf(e);
        if (i >= 0) this.onPick(this.items[i]);
      });
      box.addEventListener('keydown', (e) => {
        const i = this.items.indexOf(this.current);
        if (e.key === 'ArrowDown' && i + 1 < this.items.length) { this.onPick(this.items[i + 1]); e.preventDefault(); }
        if (e.key === 'ArrowUp' && i > 0) { this.onPick(this.items[i - 1]); e.preventDefault(); }
      });
      filterInput.addEventListener('input', () => { this.filter = filterInput.value.trim().toLowerCase(); this.refresh(); });
      sortSelect.addEventListener('change', () => { this.sort = sortSelect.value; this.refresh(); });
    }

    refresh() {
      const m = this.model;
      let list = m.traces;
      if (this.filter) {
        const f = this.filter;
        list = list.filter((t) => t.name.toLowerCase().includes(f) || t.id.startsWith(f));
      }
      const by = {
        start: (a, b) => a.start - b.start,
        dur: (a, b) => (b.last - b.start) - (a.last - a.start),
        spans: (a, b) => b.spans.length - a.spans.length,
        errors: (a, b) => b.errors - a.errors || a.start - b.start,
      }[this.sort];
      list = list.slice().sort((a, b) => by(a, b) || a.key - b.key);
      this.items = m.traces.length > 1 ? [m.all].concat(list) : list;
      this.list.setCount(this.items.length);
    }

    select(trace) {
      this.current = trace;
      const i = this.items.indexOf(trace);
      if (i >= 0) this.list.show(i);
      this.list.request();
    }

    renderRow(el, i) {
      const t = this.items[i], m = this.model;
      el.classList.toggle('sel', t === this.current);
      const n = t.all ? m.totals.spans : t.spans.length;
      const dur = m.traceEnd(t) - t.start;
      el.replaceChildren();
      const l1 = document.createElement('div');
      l1.className = 't1';
      const b = document.createElement('b');
      b.textContent = t.name;
      b.title = t.all ? 'every trace on one timeline' : t.id;
      const d = document.createElement('span');
      d.className = 'mono';
      d.textContent = (t.open > 0 ? '≥ ' : '') + F().duration(dur);
      l1.append(b, d);
      const l2 = document.createElement('div');
      l2.className = 't2';
      const when = document.createElement('span');
      when.textContent = Number.isNaN(t.start) ? '' : F().shortClock(m.base, t.start);
      const count = document.createElement('span');
      count.textContent = F().count(n) + (n === 1 ? ' span' : ' spans');
      l2.append(when, count);
      if (t.errors) l2.append(badge(F().count(t.errors) + ' err', 'err'));
      if (t.open) l2.append(badge(F().count(t.open) + (m.live ? ' running' : ' open'), 'open'));
      el.append(l1, l2);
    }
  }

  function badge(text, cls) {
    const b = document.createElement('span');
    b.className = 'badge ' + cls;
    b.textContent = text;
    return b;
  }

  S.TracePicker = TracePicker;
})(window.Spanline = window.Spanline || {});
