// details.js: everything about one span: status and error, timing (start,
// end, duration, self time), ids, the chain of parents, attributes and
// events. All text goes in as textContent: span data is never markup.
(function (S) {
  'use strict';
  const F = () => S.format;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function table(rows) {
    const t = el('table');
    for (const [k, v] of rows) {
      const tr = el('tr');
      const td = el('td');
      if (v instanceof Node) td.append(v); else td.textContent = v;
      tr.append(el('td', k), td);
      t.append(tr);
    }
    return t;
  }

  const KEYS = [
    ['wheel, + −', 'zoom the timeline (pinch too)'], ['drag, ← →', 'pan (shift+wheel: rows)'],
    ['0', 'fit the trace'], ['click', 'a bar or row: its details'], ['↑ ↓', 'move in a list'],
    ['/', 'search'], ['Esc', 'clear the search, then the selection'],
  ];

  class Details {
    constructor(box, model, onSelect) {
      this.box = box;
      this.model = model;
      this.onSelect = onSelect;
      this.shown = -1;
    }

    link(s) {
      const a = el('a', this.model.str(this.model.name[s]));
      a.title = this.model.id[s];
      a.addEventListener('click', () => this.onSelect(s, 'details'));
      return a;
    }

    show(s) {
      this.shown = s;
      const m = this.model, box = this.box;
      box.replaceChildren();
      if (s < 0 || m.id[s] === undefined) {
        box.append(el('p', 'Click a bar or a row to see a span.', 'empty'), el('h3', 'Keys'));
        const keys = table(KEYS);
        keys.className = 'keys';
        box.append(keys);
        return;
      }
      const status = m.statusText(s);
      const open = Number.isNaN(m.dur[s]);
      box.append(el('h2', m.str(m.name[s])));
      const st = el('span', open && status === 'open' ? (m.live ? 'running' : 'open (did not end)') : status, 'status ' + status);
      box.append(st);
      if (m.error[s]) box.append(el('p', m.str(m.error[s]), 'error-text'));

      const t = m.traceByKey.get(m.trace[s]);
      const origin = t && !Number.isNaN(t.start) ? t.start : 0;
      box.append(el('h3', 'Timing'));
      const rows = [];
      if (!Number.isNaN(m.start[s])) {
        rows.push(['start', F().clock(m.base, m.start[s])]);
        rows.push(['in trace', '+' + F().duration(m.start[s] - origin)]);
      }
      if (open) {
        rows.push(['end', status === 'open' ? (m.live ? 'still running' : 'did not end') : '-']);
        if (!Number.isNaN(m.start[s])) rows.push(['elapsed', '≥ ' + F().duration(m.end(s) - m.start[s])]);
      } else {
        rows.push(['end', F().clock(m.base, m.start[s] + m.dur[s])]);
        rows.push(['duration', F().duration(m.dur[s])]);
      }
      rows.push(['self time', Number.isNaN(m.self[s]) ? '-' : F().duration(m.self[s])]);
      box.append(table(rows));

      box.append(el('h3', 'Span'));
      const idRows = [['id', el('span', m.id[s], 'mono')], ['trace', el('span', m.str(m.trace[s]), 'mono')]];
      const p = m.parent[s];
      if (p >= 0) idRows.push(['parent', this.link(p)]);
      else if (m.parentId.has(s)) idRows.push(['parent', el('span', m.parentId.get(s) + ' (not in this stream)', 'mono')]);
      idRows.push(['lane', String(m.lane[s])]);
      box.append(table(idRows));

      const chain = m.chain(s);
      if (chain.length) {
        box.append(el('h3', 'Parents'));
        const c = el('div', null, 'chain');
        chain.forEach((a, i) => {
          if (i) c.append(el('span', '›'));
          c.append(this.link(a));
        });
        c.append(el('span', '›'), el('b', m.str(m.name[s])));
        box.append(c);
      }

      const attrs = m.attrs.get(s);
      box.append(el('h3', 'Attributes'));
      if (attrs && Object.keys(attrs).length) {
        const keys = Object.keys(attrs).sort();
        const tb = table(keys.map((k) => [k, el('span', F().value(attrs[k]), 'mono')]));
        tb.id = 'attrs';
        box.append(tb);
      } else {
        box.append(el('p', 'none', 'empty'));
      }

      const events = m.events.get(s);
      box.append(el('h3', 'Events'));
      if (events && events.length) {
        for (const ev of events) {
          const d = el('div', null, 'event');
          const head = el('div');
          head.append(el('b', ev.name), el('span', '  +' + F().duration(ev.ts - m.start[s]), 'mono'));
          d.append(head);
          const keys = Object.keys(ev.attrs);
          if (keys.length) d.append(table(keys.sort().map((k) => [k, el('span', F().value(ev.attrs[k]), 'mono')])));
          box.append(d);
        }
      } else {
        box.append(el('p', 'none', 'empty'));
      }
    }
  }

  S.Details = Details;
})(window.Spanline = window.Spanline || {});
