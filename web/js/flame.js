// flame.js: the timeline of one trace on a canvas: a bar per span, rows
// from layout.js, a time axis, zoom (wheel, pinch, keys) and pan (drag,
// keys), hover and click.
//
// Key idea: a frame draws only what is on screen, and at most one bar per
// pixel column and row: each visible row is bisected to its first visible
// bar, and after a bar narrower than a pixel the walk jumps (bisecting
// again) to the first bar starting in the next pixel. A frame therefore
// costs about rows x width, whatever the number of spans.
(function (S) {
  'use strict';

  const ROW = 18;        // px per row
  const AXIS = 22;       // px of the time axis
  const MIN_NS_PER_PX = 0.01;

  const STATUS_COLORS = { 1: '#e5484d', 2: '#b8a07e', 3: '#3fb67b', 4: '#8e8c99' };

  // ok bars: a hue per name (stable across traces), blue to violet
  function hashHue(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
    return 190 + ((h >>> 0) % 90);
  }

  class Flame {
    constructor(canvas, model, hooks) {
      this.canvas = canvas;
      this.ctx = canvas.getContext('2d');
      this.model = model;
      this.hooks = hooks;          // { select(serial), hover(serial, x, y) }
      this.layout = null;
      this.t0 = 0; this.nsPerPx = 1; this.scrollY = 0;
      this.width = 0; this.height = 0;
      this.selected = -1;
      this.hovered = -1;
      this.match = null;           // Uint8Array by serial (1 = matches the search) or null
      this.colors = new Map();     // name string index -> ok colour
      this.stats = { bars: 0, drawMs: 0, frames: 0, firstPaint: 0, rows: 0, drawTimes: [] };
      this.pending = false;
      this.pointers = new Map();
      this.hatch = null;
      this.charWidth = 7;
      this.resize();
      this.bind();
    }

    setLayout(layout, keepView) {
      const same = this.layout && layout && this.layout.trace === layout.trace;
      this.layout = layout;
      if (!(keepView && same)) { this.scrollY = 0; this.fit(); }
      this.request();
    }

    // Start and end of what the layout covers (ns relative to the base).
    range() {
      const t = this.layout && this.layout.trace;
      if (!t || Number.isNaN(t.start) || !Number.isFinite(t.start)) return [0, 1];
      const end = Math.max(this.model.traceEnd(t), t.start + 1);
      return [t.start, end];
    }

    fit() {
      const [a, b] = this.range();
      const w = Math.max(this.width, 1);
      const pad = (b - a) * 0.01;
      this.t0 = a - pad;
      this.nsPerPx = Math.max((b - a + 2 * pad) / w, MIN_NS_PER_PX);
      this.auto = true;   // a live trace keeps fitting until the user zooms or pans
    }

    zoom(factor, atX) {
      const [a, b] = this.range();
      const maxNs = Math.max((b - a) * 4 / Math.max(this.width, 1), MIN_NS_PER_PX);
      const t = this.t0 + atX * this.nsPerPx;
      this.auto = false;
      this.nsPerPx = Math.min(Math.max(this.nsPerPx * factor, MIN_NS_PER_PX), maxNs);
      this.t0 = t - atX * this.nsPerPx;
      this.request();
    }

    pan(dx, dy) {
      if (dx) this.auto = false;
      this.t0 += dx * this.nsPerPx;
      const rows = this.layout ? this.layout.rows.length : 0;
      const maxY = Math.max(0, rows * ROW - (this.height - AXIS) + ROW);
      this.scrollY = Math.min(Math.max(this.scrollY + dy, 0), maxY);
      this.request();
    }

    // Brings span s into view (centred when off screen), keeping the zoom
    // unless the span is wider than the view.
    reveal(s) {
      const m = this.model;
      const r = this.layout && this.layout.rowOf(s);
      if (r === undefined) return;
      const a = m.start[s], e = m.end(s);
      const span = e - a;
      if (span > this.width * this.nsPerPx * 0.9) this.nsPerPx = Math.max(span / (this.width * 0.8), MIN_NS_PER_PX);
      const v0 = this.t0, v1 = this.t0 + this.width * this.nsPerPx;
      if (a < v0 || e > v1) {
        this.t0 = (a + e) / 2 - (this.width / 2) * this.nsPerPx;
        this.auto = false;
      }
      const y = r * ROW;
      const h = this.height - AXIS;
      if (y < this.scrollY || y + ROW > this.scrollY + h) this.scrollY = Math.max(0, y - h / 2);
      this.request();
    }

    resize() {
      const rect = this.canvas.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      const w = Math.max(1, Math.round(rect.width)), h = Math.max(1, Math.round(rect.height));
      if (w === this.width && h === this.height && this.dpr === dpr) return;
      const ratio = this.width > 0 ? w / this.width : 1;
      this.width = w; this.height = h; this.dpr = dpr;
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
      if (ratio !== 1 && this.layout) this.nsPerPx /= ratio;   // keep the same time range in view
      this.request();
    }

    request() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }

    colorOf(s) {
      const code = this.model.statusCode(s);
      if (code !== 0) return STATUS_COLORS[code];
      const key = this.model.name[s];
      let c = this.colors.get(key);
      if (!c) {
        c = 'hsl(' + hashHue(this.model.str(key)) + ' 62% 62%)';
        this.colors.set(key, c);
      }
      return c;
    }

    hatchPattern() {
      if (!this.hatch) {
        const c = document.createElement('canvas');
        c.width = 6; c.height = 6;
        const g = c.getContext('2d');
        g.strokeStyle = 'rgba(0,0,0,0.35)';
        g.lineWidth = 1.5;
        g.beginPath(); g.moveTo(0, 6); g.lineTo(6, 0); g.stroke();
        this.hatch = this.ctx.createPattern(c, 'repeat');
      }
      return this.hatch;
    }

    draw() {
      const t0ms = performance.now();
      const ctx = this.ctx, m = this.model;
      const W = this.width, H = this.height;
      if (this.auto && m.live && this.layout) this.fit();
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      const css = getComputedStyle(this.canvas);
      const fg = css.getPropertyValue('--fg') || '#1c2024';
      const muted = css.getPropertyValue('--muted') || '#60646c';
      const line = css.getPropertyValue('--line') || '#e0e1e6';
      ctx.clearRect(0, 0, W, H);
      let bars = 0;
      const L = this.layout;
      const k = 1 / this.nsPerPx;
      const t0 = this.t0, t1 = t0 + W * this.nsPerPx;
      const now = m.clock();
      const match = this.match;
      ctx.font = '11px system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif';
      ctx.textBaseline = 'middle';
      if (L) {
        const first = Math.max(0, Math.floor(this.scrollY / ROW));
        const last = Math.min(L.rows.length - 1, Math.floor((this.scrollY + H - AXIS) / ROW));
        for (let r = first; r <= last; r++) {
          const y = AXIS + r * ROW - this.scrollY;
          const R = L.rows[r];
          let i = Math.max(0, S.layout.upper(R.starts, R.n, t0) - 1);
          let lastPx = -1;
          while (i < R.n) {
            const st = R.starts[i];
            if (st > t1) break;
            const s = R.ids[i];
            const open = Number.isNaN(m.dur[s]);
            const en = open ? Math.max(st, now) : st + m.dur[s];
            if (en < t0) { i++; continue; }
            const x0 = (st - t0) * k;
            // an open span always shows its running mark, however short
            const x1 = open ? Math.max((en - t0) * k, x0 + 8) : (en - t0) * k;
            const dim = match && !match[s];
            ctx.globalAlpha = dim ? 0.18 : 1;
            ctx.fillStyle = this.colorOf(s);
            if (x1 - x0 < 1) {
              // sub-pixel: one bar per pixel column, then jump to the next column
              const px = Math.floor(x0);
              if (px > lastPx) {
                ctx.fillRect(px, y + 1, 1, ROW - 2);
                bars++;
                lastPx = px;
              }
              // Bars of a row are disjoint: of those starting in this column
              // only the last can reach the next one, so the walk resumes there.
              const next = t0 + (px + 1) * this.nsPerPx;
              const j = S.layout.upper(R.starts, R.n, next);
              i = Math.max(i + 1, j - 1);
              continue;
            }
            const bx = Math.max(x0, -2), bw = Math.min(x1, W + 2) - bx;
            ctx.fillRect(bx, y + 1, bw, ROW - 2);
            bars++;
            const code = m.statusCode(s);
            if (code === 2) { ctx.fillStyle = this.hatchPattern(); ctx.fillRect(bx, y + 1, bw, ROW - 2); }
            if (code === 3 || open) this.drawRunning(ctx, bx, bw, y);
            if (s === this.selected || s === this.hovered) {
              ctx.globalAlpha = 1;
              ctx.strokeStyle = s === this.selected ? fg : muted;
              ctx.lineWidth = s === this.selected ? 2 : 1;
              ctx.strokeRect(bx + 0.5, y + 1.5, Math.max(bw - 1, 1), ROW - 3);
            }
            if (bw > 24) this.label(ctx, s, bx, bw, y, open);
            lastPx = Math.floor(x1);
            i++;
          }
        }
        ctx.globalAlpha = 1;
      }
      this.drawAxis(ctx, W, fg, muted, line);
      this.stats.bars = bars;
      this.stats.rows = L ? L.rows.length : 0;
      this.stats.frames++;
      this.stats.drawMs = performance.now() - t0ms;
      const times = this.stats.drawTimes;
      if (times.length >= 512) times.shift();
      times.push(this.stats.drawMs);
      if (!this.stats.firstPaint && L) this.stats.firstPaint = performance.now();
      if (this.hooks.drawn) this.hooks.drawn();
    }

    // An open span: stripes fading in over its last part and an arrow at
    // its end (it is still running, or never ended in this file).
    drawRunning(ctx, bx, bw, y) {
      const tail = Math.min(bw, 40);
      const g = ctx.createLinearGradient(bx + bw - tail, 0, bx + bw, 0);
      g.addColorStop(0, 'rgba(255,255,255,0)');
      g.addColorStop(1, 'rgba(255,255,255,0.65)');
      ctx.fillStyle = g;
      ctx.fillRect(bx + bw - tail, y + 1, tail, ROW - 2);
      ctx.fillStyle = '#1f6f47';
      const x = bx + bw;
      ctx.beginPath();
      ctx.moveTo(x - 6, y + 4); ctx.lineTo(x, y + ROW / 2); ctx.lineTo(x - 6, y + ROW - 4);
      ctx.closePath();
      ctx.fill();
    }

    label(ctx, s, bx, bw, y, open) {
      const m = this.model;
      const x = Math.max(bx, 0) + 4;
      const room = Math.min(bx + bw, this.width) - x - (open ? 10 : 4);
      if (room < 14) return;
      let text = m.str(m.name[s]);
      const d = open ? '≥ ' + S.format.duration(m.end(s) - m.start[s]) : S.format.duration(m.dur[s]);
      const full = text + '  ' + d;
      const cw = this.charWidth;
      if (full.length * cw <= room) text = full;
      else if (text.length * cw > room) {
        const keep = Math.max(1, Math.floor(room / cw) - 1);
        text = text.slice(0, keep) + '…';
      }
      ctx.fillStyle = '#111';
      ctx.fillText(text, x, y + ROW / 2 + 0.5);
    }

    drawAxis(ctx, W, fg, muted, line) {
      ctx.fillStyle = getComputedStyle(document.body).backgroundColor || '#fff';
      ctx.fillRect(0, 0, W, AXIS);
      ctx.strokeStyle = line;
      ctx.beginPath(); ctx.moveTo(0, AXIS - 0.5); ctx.lineTo(W, AXIS - 0.5); ctx.stroke();
      const origin = this.range()[0];
      // a step of 1, 2 or 5 x 10^n ns, about 100 px apart
      const want = this.nsPerPx * 100;
      const p = Math.pow(10, Math.floor(Math.log10(want)));
      const step = want / p < 2 ? p : want / p < 5 ? 2 * p : 5 * p;
      const from = Math.ceil((this.t0 - origin) / step) * step;
      ctx.fillStyle = muted;
      ctx.textBaseline = 'middle';
      for (let t = from; ; t += step) {
        const x = (origin + t - this.t0) / this.nsPerPx;
        if (x > W) break;
        ctx.fillRect(Math.round(x), AXIS - 6, 1, 6);
        ctx.fillText(S.format.duration(t), Math.round(x) + 3, AXIS / 2 - 1);
      }
    }

    // The span under (x, y) in CSS px, or -1; tiny bars are hit within 3 px.
    hit(x, y) {
      const L = this.layout;
      if (!L || y < AXIS) return -1;
      const r = Math.floor((y - AXIS + this.scrollY) / ROW);
      if (r < 0 || r >= L.rows.length) return -1;
      const R = L.rows[r];
      const m = this.model;
      const t = this.t0 + x * this.nsPerPx;
      const slack = 3 * this.nsPerPx;
      let i = S.layout.upper(R.starts, R.n, t + slack) - 1;
      let best = -1, bestGap = Infinity;
      for (; i >= 0; i--) {
        const s = R.ids[i];
        const a = R.starts[i], e = m.end(s);
        const gap = t < a ? a - t : t > e ? t - e : 0;
        if (gap < bestGap) { best = s; bestGap = gap; }
        if (gap === 0 || e < t - slack) break;
      }
      return bestGap <= slack ? best : -1;
    }

    // Centre of span s's bar in CSS px relative to the canvas (tests).
    where(s) {
      const r = this.layout && this.layout.rowOf(s);
      if (r === undefined) return null;
      const m = this.model;
      const a = Math.max(m.start[s], this.t0), e = Math.min(m.end(s), this.t0 + this.width * this.nsPerPx);
      return { x: ((a + e) / 2 - this.t0) / this.nsPerPx, y: AXIS + r * ROW - this.scrollY + ROW / 2 };
    }

    bind() {
      const c = this.canvas;
      let drag = null;
      c.addEventListener('pointerdown', (e) => {
        c.setPointerCapture(e.pointerId);
        this.pointers.set(e.pointerId, { x: e.offsetX, y: e.offsetY });
        if (this.pointers.size === 1) drag = { x: e.offsetX, y: e.offsetY, moved: false };
        else drag = null;
        c.parentElement.focus({ preventScroll: true });
      });
      c.addEventListener('pointermove', (e) => {
        const prev = this.pointers.get(e.pointerId);
        if (prev && this.pointers.size === 2) {
          // pinch: zoom by the change of distance around the midpoint
          const [a, b] = Array.from(this.pointers.values());
          const d0 = Math.hypot(a.x - b.x, a.y - b.y);
          this.pointers.set(e.pointerId, { x: e.offsetX, y: e.offsetY });
          const [a2, b2] = Array.from(this.pointers.values());
          const d1 = Math.hypot(a2.x - b2.x, a2.y - b2.y);
          if (d0 > 0 && d1 > 0) this.zoom(d0 / d1, (a2.x + b2.x) / 2);
          return;
        }
        if (drag && prev) {
          const dx = e.offsetX - prev.x, dy = e.offsetY - prev.y;
          this.pointers.set(e.pointerId, { x: e.offsetX, y: e.offsetY });
          if (Math.abs(e.offsetX - drag.x) + Math.abs(e.offsetY - drag.y) > 3) drag.moved = true;
          if (drag.moved) this.pan(-dx, -dy);
          return;
        }
        const s = this.hit(e.offsetX, e.offsetY);
        if (s !== this.hovered) { this.hovered = s; this.request(); }
        this.hooks.hover(s, e.offsetX, e.offsetY);
      });
      const up = (e) => {
        const wasClick = drag && !drag.moved && this.pointers.size === 1;
        this.pointers.delete(e.pointerId);
        if (wasClick && e.type === 'pointerup') {
          const s = this.hit(e.offsetX, e.offsetY);
          if (s >= 0) this.hooks.select(s, 'chart');
        }
        drag = null;
      };
      c.addEventListener('pointerup', up);
      c.addEventListener('pointercancel', up);
      c.addEventListener('pointerleave', () => {
        if (this.hovered !== -1) { this.hovered = -1; this.request(); }
        this.hooks.hover(-1);
      });
      c.addEventListener('wheel', (e) => {
        e.preventDefault();
        const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? this.height : 1;
        const dx = e.deltaX * unit, dy = e.deltaY * unit;
        if (e.shiftKey) this.pan(0, dy || dx);
        else if (Math.abs(dx) > Math.abs(dy)) this.pan(dx, 0);
        else this.zoom(Math.exp(dy * (e.ctrlKey ? 0.01 : 0.002)), e.offsetX);
      }, { passive: false });
      new ResizeObserver(() => this.resize()).observe(c);
    }

    // Keys for the chart; returns true when the key was used.
    key(e) {
      const step = this.width * 0.1;
      switch (e.key) {
        case '+': case '=': case 'w': this.zoom(1 / 1.4, this.width / 2); return true;
        case '-': case '_': case 's': this.zoom(1.4, this.width / 2); return true;
        case 'ArrowLeft': case 'a': this.pan(-step, 0); return true;
        case 'ArrowRight': case 'd': this.pan(step, 0); return true;
        case '0': case 'Home': this.fit(); this.scrollY = 0; this.request(); return true;
        default: return false;
      }
    }
  }

  Flame.ROW = ROW;
  Flame.AXIS = AXIS;
  S.Flame = Flame;
})(window.Spanline = window.Spanline || {});
