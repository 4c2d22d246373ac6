// spanlist.js: the spans of the trace shown, as a table: in tree order
// (indented) or sorted by a column, narrowed by the search.
(function (S) {
  'use strict';
  const F = () => S.format;

  const COLUMNS = [
    { key: 'name', title: 'Name' }, { key: 'start', title: 'Start', num: true },
    { key: 'dur', title: 'Duration', num: true }, { key: 'self', title: 'Self', num: true },
    { key: 'status', title: 'Status' },
  ];

  class SpanList {
    constructor(box, head, model, flame, onSelect) {
      this.model = model;
      this.flame = flame;
      this.onSelect = onSelect;
      this.layout = null;
      this.pred = null;
      this.items = new Int32Array(0);   // serials shown
      this.sortKey = 'tree';
      this.desc = false;
      this.selected = -1;
      this.head = head;
      this.list = new S.VList(box, 22, (el, i) => this.renderRow(el, i));
      box.addEventListener('click', (e) => {
        const i = this.list.indexOf(e);
        if (i >= 0) this.onSelect(this.items[i], 'list');
      });
      box.addEventListener('keydown', (e) => {
        const i = this.items.indexOf(this.selected);
        let j = -1;
        if (e.key === 'ArrowDown') j = Math.min(i + 1, this.items.length - 1);
        else if (e.key === 'ArrowUp') j = Math.max(i - 1, 0);
        else if (e.key === 'PageDown') j = Math.min(i + 20, this.items.length - 1);
        else if (e.key === 'PageUp') j = Math.max(i - 20, 0);
        if (j >= 0 && this.items.length) { this.onSelect(this.items[j], 'list'); e.preventDefault(); }
      });
      this.renderHead();
    }

    renderHead() {
      this.head.replaceChildren();
      for (const c of COLUMNS) {
        const h = document.createElement('span');
        if (c.num) h.className = 'num';
        const arrow = this.sortKey === c.key ? (this.desc ? ' ▼' : ' ▲') : (c.key === 'name' && this.sortKey === 'tree' ? ' (tree)' : '');
        h.textContent = c.title + arrow;
        h.title = 'Sort by ' + c.title.toLowerCase() + '; again to reverse; a third time for tree order';
        h.addEventListener('click', () => this.sortBy(c.key));
        this.head.append(h);
      }
    }

    sortBy(key) {
      if (this.sortKey !== key) { this.sortKey = key; this.desc = key === 'dur' || key === 'self'; }
      else if (this.desc === (key === 'dur' || key === 'self')) this.desc = !this.desc;
      else this.sortKey = 'tree';
      this.renderHead();
      this.refresh();
    }

    setLayout(layout) { this.layout = layout; this.refresh(); }
    setFilter(pred) { this.pred = pred; this.refresh(); }

    refresh() {
      const L = this.layout, m = this.model;
      if (!L) { this.items = new Int32Array(0); this.list.setCount(0); return; }
      let items = L.order;
      if (this.pred) {
        const out = [];
        for (let i = 0; i < items.length; i++) if (this.pred(m, items[i])) out.push(items[i]);
        items = Int32Array.from(out);
      }
      if (this.sortKey !== 'tree') {
        const key = this.sortKey, sign = this.desc ? -1 : 1;
        const val = {
          name: (s) => m.str(m.name[s]), status: (s) => m.statusText(s), start: (s) => m.start[s],
          dur: (s) => (Number.isNaN(m.dur[s]) ? m.end(s) - m.start[s] : m.dur[s]),
          self: (s) => (Number.isNaN(m.self[s]) ? -1 : m.self[s]),
        }[key];
        items = Int32Array.from(items).sort((a, b) => {
          const x = val(a), y = val(b);
          return (x < y ? -sign : x > y ? sign : 0) || a - b;
        });
      }
      this.items = items;
      this.list.setCount(items.length);
    }

    select(s) {
      this.selected = s;
      const i = this.items.indexOf(s);
      if (i >= 0) this.list.show(i);
      this.list.request();
    }

    renderRow(el, i) {
      const m = this.model, s = this.items[i], L = this.layout;
      el.classList.toggle('sel', s === this.selected);
      el.dataset.serial = s;
      el.replaceChildren();
      const name = document.createElement('span');
      name.className = 'name';
      const depth = this.sortKey === 'tree' ? L.depth[L.indexOf(s)] || 0 : 0;
      name.style.paddingLeft = Math.min(depth, 40) * 12 + 'px';
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = this.flame.colorOf(s);
      const label = document.createElement('span');
      label.textContent = m.str(m.name[s]);
      name.append(sw, label);
      if (this.sortKey !== 'tree' && L.trace.all) {
        const t = document.createElement('i');
        t.textContent = m.str(m.trace[s]).slice(0, 8);
        name.append(t);
      }
      const origin = Number.isNaN(L.trace.start) ? 0 : L.trace.start;
      const open = Number.isNaN(m.dur[s]);
      const cells = [
        name,
        cell('+' + F().duration(m.start[s] - origin), 'num mono'),
        cell(open ? '≥ ' + F().duration(m.end(s) - m.start[s]) : F().duration(m.dur[s]), 'num mono'),
        cell(F().duration(Number.isNaN(m.self[s]) ? null : m.self[s]), 'num mono'),
        cell(m.statusText(s) === 'open' && m.live ? 'running' : m.statusText(s), 'st-' + m.statusText(s)),
      ];
      el.title = m.str(m.name[s]) + (m.error[s] ? ' — ' + m.str(m.error[s]) : '');
      el.append(...cells);
    }
  }

  function cell(text, cls) {
    const c = document.createElement('span');
    c.className = cls;
    c.textContent = text;
    return c;
  }

  S.SpanList = SpanList;
})(window.Spanline = window.Spanline || {});
