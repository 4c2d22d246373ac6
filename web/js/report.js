// report.js: the latency table of `spanline report` (rows computed by
// spanline.query's stats(), sent with the spans), sortable by any column;
// clicking a row searches for that name.
(function (S) {
  'use strict';

  class Report {
    constructor(tableEl, model, onPick) {
      this.table = tableEl;
      this.model = model;
      this.onPick = onPick;
      this.sortCol = -1;    // -1: the order stats() gave (largest total first)
      this.desc = true;
    }

    render() {
      const r = this.model.report;
      const t = this.table;
      t.replaceChildren();
      if (!r) return;
      const head = document.createElement('thead');
      const hr = document.createElement('tr');
      r.columns.forEach(([, title], i) => {
        const th = document.createElement('th');
        th.textContent = title + (i === this.sortCol ? (this.desc ? ' ▼' : ' ▲') : '');
        th.addEventListener('click', () => {
          if (this.sortCol === i) this.desc = !this.desc;
          else { this.sortCol = i; this.desc = r.columns[i][2] !== 'str'; }
          this.render();
        });
        hr.append(th);
      });
      head.append(hr);
      let rows = r.rows;
      if (this.sortCol >= 0) {
        const i = this.sortCol, sign = this.desc ? -1 : 1;
        rows = rows.slice().sort((a, b) => {
          const x = a[i] === null ? -Infinity : a[i], y = b[i] === null ? -Infinity : b[i];
          return x < y ? -sign : x > y ? sign : 0;
        });
      }
      const body = document.createElement('tbody');
      for (const row of rows) {
        const tr = document.createElement('tr');
        row.forEach((v, i) => {
          const kind = r.columns[i][2];
          const td = document.createElement('td');
          td.textContent = kind === 'dur' ? S.format.duration(v) : v === null ? '-' : String(v);
          if (r.columns[i][0] === 'errors' && v > 0) td.className = 'err';
          tr.append(td);
        });
        tr.addEventListener('click', () => this.onPick(String(row[0])));
        body.append(tr);
      }
      t.append(head, body);
    }
  }

  S.Report = Report;
})(window.Spanline = window.Spanline || {});
