// live.js: the page of `spanline serve`: spans streamed as Server-Sent
// Events (a snapshot on every (re)connect, then batches of changed spans,
// the report now and then, and a clock tick every second).
//
// Key idea: events are queued as they come and applied together once per
// animation frame (or 100 ms, in a hidden page), so a burst of batches costs
// one regrouping and one draw.
(function (S) {
  'use strict';

  function connect(url, model, onApplied, onState) {
    const queue = [];
    let scheduled = false;
    const apply = () => {
      scheduled = false;
      const items = queue.splice(0);
      let spans = false, report = false;
      for (const [kind, data] of items) {
        if (kind === 'tick') {
          model.now = data.now;
          model.nowAt = performance.now();
        } else if (kind === 'report') {
          model.report = data;
          report = true;
        } else {
          if (kind === 'snapshot') data.snapshot = true;
          data.live = true;
          model.ingest(data);
          spans = true;
        }
      }
      onApplied({ spans, report });
    };
    const push = (kind) => (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch (err) { console.warn('spanline: bad event', kind, err); return; }
      queue.push([kind, data]);
      if (!scheduled) {
        scheduled = true;
        // the next frame, or soon in a page the browser does not paint
        // (hidden tabs get no animation frames)
        const once = () => { if (scheduled) apply(); };
        requestAnimationFrame(once);
        setTimeout(once, 100);
      }
    };
    const es = new EventSource(url);
    for (const kind of ['snapshot', 'spans', 'report', 'tick']) es.addEventListener(kind, push(kind));
    es.addEventListener('open', () => onState('on'));
    es.addEventListener('error', () => onState(es.readyState === EventSource.CLOSED ? 'closed' : 'off'));
    return es;
  }

  S.live = { connect };
})(window.Spanline = window.Spanline || {});
