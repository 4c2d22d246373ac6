// vlist.js: a virtual list: a scrolling box that holds a few row elements
// whatever its length, for the trace picker and the span list.
//
// Key idea: rows have one height; on scroll only the rows in view are
// (re)filled by the owner's render(el, index), reusing the elements.
(function (S) {
  'use strict';

  class VList {
    constructor(box, rowHeight, render, rowClass) {
      this.box = box;
      this.rowHeight = rowHeight;
      this.render = render;
      this.rowClass = rowClass || 'row';
      this.count = 0;
      this.pool = [];
      this.spacer = document.createElement('div');
      this.spacer.className = 'spacer';
      box.appendChild(this.spacer);
      this.pending = false;
      box.addEventListener('scroll', () => this.request());
      new ResizeObserver(() => this.request()).observe(box);
    }

    setCount(n) {
      this.count = n;
      this.spacer.style.height = n * this.rowHeight + 'px';
      this.request();
    }

    request() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.paint(); });
    }

    paint() {
      const h = this.box.clientHeight;
      const first = Math.floor(this.box.scrollTop / this.rowHeight);
      const visible = Math.min(this.count - first, Math.ceil(h / this.rowHeight) + 1);
      while (this.pool.length < visible) {
        const el = document.createElement('div');
        el.className = this.rowClass;
        this.box.appendChild(el);
        this.pool.push(el);
      }
      for (let j = 0; j < this.pool.length; j++) {
        const el = this.pool[j];
        if (j < visible) {
          const i = first + j;
          el.hidden = false;
          el.style.top = i * this.rowHeight + 'px';
          el.dataset.index = i;
          this.render(el, i);
        } else {
          el.hidden = true;
        }
      }
    }

    // Scrolls so row i is in view.
    show(i) {
      const top = i * this.rowHeight, h = this.box.clientHeight;
      if (top < this.box.scrollTop) this.box.scrollTop = top;
      else if (top + this.rowHeight > this.box.scrollTop + h) this.box.scrollTop = top + this.rowHeight - h;
      this.request();
    }

    // The row index of an event inside the list, or -1.
    indexOf(e) {
      const el = e.target.closest('[data-index]');
      return el && el.parentElement === this.box ? Number(el.dataset.index) : -1;
    }

    // Row elements currently shown (tests and owners).
    rows() { return this.pool.filter((el) => !el.hidden); }
  }

  S.VList = VList;
})(window.Spanline = window.Spanline || {});
