// search.js: the search box's little language, compiled to a predicate
// over span serials.
//
// Terms are separated by spaces and all must hold; `-term` negates one.
//   text          name, error, id or an attribute key or value contains it
//   key=value     attribute key's value contains value (key=, any value)
//   name:x        the name is exactly x          status:error  the status
//   id:ab12       the span id starts with ab12   trace:ab12    the trace id
//   dur>5ms dur<=1s self>100us   durations with the units of `spanline filter`
// A phrase with spaces goes in double quotes: name:"GET /items".
(function (S) {
  'use strict';

  const CMP = {
    '>': (a, b) => a > b, '>=': (a, b) => a >= b, '<': (a, b) => a < b,
    '<=': (a, b) => a <= b, '=': (a, b) => a === b,
  };

  function includes(v, needle) {
    return S.format.value(v).toLowerCase().includes(needle);
  }

  // One term -> predicate(model, s), or null when it is not understood.
  function term(text) {
    let m = /^(dur|self)(>=|<=|>|<|=)(.+)$/.exec(text);
    if (m) {
      const ns = S.format.parseDuration(m[3]);
      if (Number.isNaN(ns)) return null;
      const field = m[1], cmp = CMP[m[2]];
      return (model, s) => {
        const v = model[field][s];
        return !Number.isNaN(v) && cmp(v, ns);
      };
    }
    m = /^(name|status|id|trace):(.*)$/.exec(text);
    if (m) {
      const want = m[2];
      switch (m[1]) {
        case 'name': return (model, s) => model.str(model.name[s]) === want;
        case 'status': return (model, s) => model.statusText(s) === want;
        case 'id': return (model, s) => model.id[s].startsWith(want.toLowerCase());
        default: return (model, s) => model.str(model.trace[s]).startsWith(want.toLowerCase());
      }
    }
    m = /^([^=]+)=(.*)$/.exec(text);
    if (m) {
      const key = m[1], needle = m[2].toLowerCase();
      return (model, s) => {
        const a = model.attrs.get(s);
        return !!a && Object.prototype.hasOwnProperty.call(a, key) && includes(a[key], needle);
      };
    }
    const needle = text.toLowerCase();
    return (model, s) => {
      if (model.str(model.name[s]).toLowerCase().includes(needle)) return true;
      if (model.error[s] && model.str(model.error[s]).toLowerCase().includes(needle)) return true;
      if (model.id[s].startsWith(needle)) return true;
      const a = model.attrs.get(s);
      if (a) for (const k in a) if (k.toLowerCase().includes(needle) || includes(a[k], needle)) return true;
      return false;
    };
  }

  // The query as one predicate, or null for an empty query.
  function compile(query) {
    // words, or "quoted phrases" (name:"GET /items" works too)
    const words = (query.match(/(?:[^\s"]+|"[^"]*")+/g) || []).map((w) => w.replace(/"/g, ''));
    if (words.length === 0) return null;
    const preds = [];
    for (const w of words) {
      const neg = w.length > 1 && w[0] === '-';
      const p = term(neg ? w.slice(1) : w) || (() => false);
      preds.push(neg ? (model, s) => !p(model, s) : p);
    }
    return (model, s) => preds.every((p) => p(model, s));
  }

  S.search = { compile };
})(window.Spanline = window.Spanline || {});
