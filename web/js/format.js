// format.js: the page's one place for text made from values: durations
// (the rule of lua/spanline/text.lua, ported once), wall-clock times from
// nanoseconds, and numbers of things.
//
// Key idea: durations read exactly as `spanline tree` and `report` print
// them. Lua formats with C's printf, which rounds the exact binary value
// and breaks exact ties to even; toFixed breaks them upwards, so ties are
// found on the exact decimal expansion and rounded to even here.
(function (S) {
  'use strict';

  // printf("%.<digits>f", x) for 0 <= x < 1e21.
  function fixed(x, digits) {
    const exact = x.toFixed(60);  // a double below 1e21 has at most 60 decimals that matter here
    const dot = exact.indexOf('.');
    const rest = exact.slice(dot + 1 + digits);
    if (/^50*$/.test(rest)) {
      const kept = digits > 0 ? exact.slice(0, dot + 1 + digits) : exact.slice(0, dot);
      const last = kept.charCodeAt(kept.length - 1) - 48;
      if (last % 2 === 0) return kept;  // tie, already even
    }
    return x.toFixed(digits);
  }

  function significant(v, unit) {
    if (v < 9.995) return fixed(v, 2) + unit;
    if (v < 99.95) return fixed(v, 1) + unit;
    return fixed(v, 0) + unit;
  }

  const pad2 = (n) => (n < 10 ? '0' : '') + n;

  // Human-readable duration from nanoseconds: 950ns, 12.3us, 4.50ms, 1.25s,
  // 3m05s, 2h01m. null/undefined gives `missing` (default "-"); a negative
  // duration (an end before its start) says "negative", as text.lua does.
  function duration(ns, missing) {
    if (ns === null || ns === undefined) return missing === undefined ? '-' : missing;
    if (Number.isNaN(ns)) return '?';
    if (ns < 0) return 'negative';  // only nonsense records give one (text.lua)
    if (ns >= 2 ** 63) return '>292y';
    ns = Math.floor(ns + 0.5);
    if (ns < 1000) return ns + 'ns';
    if (ns < 999500) return significant(ns / 1e3, 'us');
    if (ns < 999500000) return significant(ns / 1e6, 'ms');
    if (ns < 59999500000) return significant(ns / 1e9, 's');
    const s = Math.floor((ns + 500000000) / 1e9);
    if (s < 3600) return Math.floor(s / 60) + 'm' + pad2(s % 60) + 's';
    return Math.floor(s / 3600) + 'h' + pad2(Math.floor((s % 3600) / 60)) + 'm';
  }

  // "2025-05-13 06:57:55.768798828 UTC" for base (BigInt ns) + offset (ns).
  function clock(base, offset) {
    const t = base + BigInt(Math.round(offset));
    let ms = t / 1000000n;
    let frac = t % 1000000000n;
    if (frac < 0n) { frac += 1000000000n; ms -= 1n; }
    const iso = new Date(Number(ms)).toISOString();
    return iso.slice(0, 10) + ' ' + iso.slice(11, 19) + '.' + String(frac).padStart(9, '0') + ' UTC';
  }

  // "06:57:55.768" (UTC), short enough for a list.
  function shortClock(base, offset) {
    const ms = Number((base + BigInt(Math.round(offset))) / 1000000n);
    return new Date(ms).toISOString().slice(11, 23);
  }

  // 12345 -> "12,345"
  function count(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  // Parses "5ms", "1.5s", "250us", "100ns", "2m", "1h" or bare nanoseconds
  // (the units of `spanline filter --where`); NaN when it is none of them.
  const UNITS = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  function parseDuration(text) {
    const m = /^\s*([\d.]+)\s*([a-zµ]*)\s*$/.exec(text);
    if (!m) return NaN;
    const scale = m[2] === '' ? 1 : UNITS[m[2]];
    return scale === undefined ? NaN : Math.round(parseFloat(m[1]) * scale);
  }

  // An attribute value as text: strings as they are, the rest as JSON.
  function value(v) {
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  S.format = { duration, clock, shortClock, count, parseDuration, value, fixed };
})(window.Spanline = window.Spanline || {});
