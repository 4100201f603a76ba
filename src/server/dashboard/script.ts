/**
 * The dashboard's script (served as /assets/dashboard.js): polls the API every 2 s and renders
 * with the DOM (text, never HTML, from data). Charts: uPlot, one series per profile over the
 * selected range in 30 buckets (/v1/metrics/serving/series, re-read every 10 s). With the admin
 * token typed in, the buttons call the admin routes.
 */
export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var POLL_MS = 2000;
  /** The manifest's rollout steps, as /v1/status reports them (until the first answer: the default). */
  var STEPS = [5, 25, 50, 100];
  var state = { status: null, series: {}, charts: {}, polls: 0 };
  /** The charts' buckets are re-read every 5th poll (10 s) and when the range changes. */
  var SERIES_EVERY = 5;
  function refreshSeries() {
    return api('GET', '/v1/metrics/serving/series?points=30&since=' + encodeURIComponent($('range').value)).then(setSeries);
  }
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function rows(table, headers, data) {
    table.replaceChildren();
    var head = el('tr');
    headers.forEach(function (h) { head.appendChild(el('th', h)); });
    table.appendChild(head);
    data.forEach(function (r) {
      var tr = el('tr');
      r.forEach(function (c) { tr.appendChild(c instanceof Node ? wrap(c) : el('td', c === null || c === undefined ? '-' : c)); });
      table.appendChild(tr);
    });
  }
  function wrap(node) { var td = el('td'); td.appendChild(node); return td; }
  function pct(x) { return x === null || x === undefined ? '-' : (Math.floor(x * 10000) / 100).toFixed(2) + '%'; }
  function num(x, d) { return x === null || x === undefined ? '-' : Number(x).toFixed(d === undefined ? 3 : d); }

  function headers(withBody) {
    var h = withBody ? { 'content-type': 'application/json' } : {};
    var t = $('token').value.trim() || sessionStorage.getItem('reembed-token') || '';
    if (t) h.authorization = 'Bearer ' + t;
    return h;
  }
  function api(method, path, body) {
    return fetch(path, { method: method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (res) {
        return res.json().then(function (json) {
          if (!res.ok) throw new Error((json.error && (json.error.code + ': ' + json.error.message)) || res.statusText);
          return json;
        });
      });
  }
  function banner(message) {
    var b = $('banner');
    b.textContent = message || '';
    b.style.display = message ? 'block' : 'none';
  }

  function renderMigration(report) {
    var m = report.migration;
    $('phase').textContent = m ? m.phase : 'no migration';
    $('percent').textContent = m ? m.percent + '% (serving ' + report.servingPercent + '%)' : '';
    $('migration').textContent = m ? m.control + ' → ' + m.candidate + ' · ' + m.id + ' · v' + m.version : '';
    var track = $('track');
    track.replaceChildren();
    STEPS.forEach(function (s) {
      var d = el('div', s + '%');
      if (m && m.phase !== 'rolled_back' && m.phase !== 'aborted') {
        var serving = report.servingPercent;
        if (serving === s) d.className = 'now';
        else if (serving > s) d.className = 'done';
      }
      track.appendChild(d);
    });
    var c = report.controller;
    $('controller').textContent = c && c.lastTick
      ? 'controller: ' + c.lastTick.decision + ' at ' + c.lastTick.at + ' — ' + c.lastTick.reason
      : 'controller: no decision recorded';
    var gates = (c && c.gates) || [];
    rows($('gates'), ['gate', 'metric', 'candidate', 'control', 'condition', 'verdict', 'at'], gates.map(function (g) {
      return [g.gate, g.metric, num(g.candidate, 4), num(g.control, 4), g.condition, el('span', g.verdict, g.verdict), g.at];
    }));
  }

  function renderStatus(s) {
    var cov = $('coverage');
    cov.replaceChildren();
    s.profiles.forEach(function (p) {
      var line = el('div');
      line.appendChild(el('div', p.profile + ': ' + pct(p.coverage.ratio) + ' (' + p.coverage.current + ' / ' + p.coverage.sourceRows + ')'));
      var bar = el('div', null, 'bar');
      var fill = el('div');
      fill.style.width = Math.max(0, Math.min(100, p.coverage.ratio * 100)) + '%';
      bar.appendChild(fill);
      line.appendChild(bar);
      cov.appendChild(line);
    });
    rows($('queue'), ['profile', 'queued', 'dead letters', 'workers', 'rows/s', 'paused', 'throttle', 'JIT waiting', 'JIT /min (5 min)', 'JIT time to embed p95'], s.profiles.map(function (p) {
      var jit = p.jit || { pending: 0, itemsPerMinute: 0, timeToEmbedMs: null };
      return [p.profile, p.queued, p.failures, p.workersAlive, num(p.rowsPerSecond, 1), p.paused ? 'yes' : 'no', p.throttleRpm === null ? '-' : p.throttleRpm + '/min',
        jit.pending, num(jit.itemsPerMinute, 1), jit.timeToEmbedMs ? num(jit.timeToEmbedMs.p95 / 1000, 2) + ' s' : '-'];
    }));
    rows($('breakers'), ['profile', 'state', 'opens', 'last open'], s.breakers.map(function (b) {
      return [b.profile, b.state, b.opens, b.lastOpenAt];
    }));
    if (s.rollout && Array.isArray(s.rollout.steps) && s.rollout.steps.length) STEPS = s.rollout.steps;
    renderMigration(s.migration);
  }

  function renderHistory(h) {
    var events = (h.events || []).slice().reverse();
    rows($('history'), ['at', 'actor', 'action', 'from', 'to', 'reason'], events.map(function (e) {
      return [e.at, e.actor, e.action, (e.fromPhase || '-') + ' ' + (e.fromPercent === null ? '' : e.fromPercent + '%'), e.toPhase + ' ' + e.toPercent + '%', e.reason];
    }));
  }

  function renderServing(m) {
    rows($('serving'), ['profile', 'requests', 'error rate', 'fallbacks', 'p50 ms', 'p95 ms', 'p99 ms', 'shadow overlap'], m.profiles.map(function (p) {
      return [p.profile, p.requests, pct(p.errorRate), p.fallbacks, num(p.latencyMs.p50, 1), num(p.latencyMs.p95, 1), num(p.latencyMs.p99, 1), num(p.shadow.overlap, 3)];
    }));
    // The profiles whose rerank stage served in the range: its A/B arms, acceptance (rank 1 changed), fallbacks, latency.
    var staged = m.profiles.filter(function (p) { return p.rerank && p.rerank.on + p.rerank.off + p.rerank.fallbacks > 0; });
    rows($('rerank'), ['profile', 'reranked', 'not reranked', 'fallbacks', 'acceptance', 'rerank p50 ms', 'rerank p95 ms'], staged.map(function (p) {
      var r = p.rerank;
      return [p.profile, r.on, r.off, r.fallbacks, pct(r.acceptance), num(r.latencyMs.p50, 2), num(r.latencyMs.p95, 2)];
    }));
  }

  /** The charts' data: /v1/metrics/serving/series over the range, one point per bucket. */
  function setSeries(res) {
    var series = {};
    res.series.forEach(function (b) {
      var t = new Date(b.to || Date.now()).getTime() / 1000;
      b.profiles.forEach(function (p) {
        (series[p.profile] = series[p.profile] || []).push({
          t: t,
          errors: p.requests ? p.errorRate : null,
          p95: p.latencyMs.p95,
          overlap: p.shadow.overlap,
        });
      });
    });
    state.series = series;
    ['errors', 'p95', 'overlap'].forEach(drawChart);
  }

  function drawChart(field) {
    var box = $('chart-' + field);
    var names = Object.keys(state.series).sort();
    var times = [];
    names.forEach(function (n) { state.series[n].forEach(function (x) { if (times.indexOf(x.t) < 0) times.push(x.t); }); });
    times.sort(function (a, b) { return a - b; });
    var data = [times].concat(names.map(function (n) {
      var by = {};
      state.series[n].forEach(function (x) { by[x.t] = x[field]; });
      return times.map(function (t) { return by[t] === undefined ? null : by[t]; });
    }));
    var colors = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#9a6700'];
    var key = names.join(',');
    var chart = state.charts[field];
    var width = Math.max(240, box.clientWidth || 300);
    if (!chart || chart.key !== key) {
      if (chart) chart.plot.destroy();
      var opts = {
        width: width, height: 180,
        series: [{}].concat(names.map(function (n, i) { return { label: n, stroke: colors[i % colors.length], spanGaps: true }; })),
        axes: [{}, {}],
      };
      box.replaceChildren();
      state.charts[field] = { key: key, plot: new uPlot(opts, data, box) };
    } else {
      if (chart.plot.width !== width) chart.plot.setSize({ width: width, height: 180 });
      chart.plot.setData(data);
    }
  }

  function poll() {
    var range = $('range').value;
    Promise.all([
      api('GET', '/v1/status').then(function (s) { state.status = s; renderStatus(s); }),
      api('GET', '/v1/migrations/current/history').then(renderHistory),
      api('GET', '/v1/metrics/serving?since=' + encodeURIComponent(range)).then(renderServing),
      state.polls++ % SERIES_EVERY === 0 ? refreshSeries() : null,
    ]).then(function () {
      banner('');
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    }, function (error) {
      banner('could not refresh: ' + error.message);
    }).then(function () { setTimeout(poll, POLL_MS); });
  }

  function act(label, method, path, body) {
    $('action').textContent = label + '…';
    return api(method, path, body).then(function (result) {
      $('action').textContent = label + ': done';
      return result;
    }, function (error) {
      $('action').textContent = label + ' failed: ' + error.message;
    });
  }
  function migration() { return state.status && state.status.migration && state.status.migration.migration; }

  $('token').value = sessionStorage.getItem('reembed-token') || '';
  $('token').addEventListener('change', function () { sessionStorage.setItem('reembed-token', $('token').value.trim()); });
  $('pause').addEventListener('click', function () {
    var m = migration();
    if (m) act('pause', 'POST', '/v1/backfill/' + encodeURIComponent(m.candidate) + '/pause');
  });
  $('resume').addEventListener('click', function () {
    var m = migration();
    if (m) act('resume', 'POST', '/v1/backfill/' + encodeURIComponent(m.candidate) + '/resume');
  });
  $('ramp').addEventListener('click', function () {
    var m = migration();
    if (!m) return;
    var next = STEPS.filter(function (s) { return s > m.percent; })[0];
    if (next === undefined) { $('action').textContent = 'already at 100%: cut over from the CLI or the API'; return; }
    act('ramp to ' + next + '%', 'POST', '/v1/migrations/' + encodeURIComponent(m.id) + '/ramp', { percent: next, expectVersion: m.version });
  });
  $('rollback').addEventListener('click', function () {
    var m = migration();
    var reason = $('reason').value.trim();
    if (!m) return;
    if (!reason) { $('action').textContent = 'a rollback needs a reason'; return; }
    if (!window.confirm('Roll back migration ' + m.id + ' (' + m.control + ' → ' + m.candidate + ')?')) return;
    act('rollback', 'POST', '/v1/migrations/' + encodeURIComponent(m.id) + '/rollback', { reason: reason });
  });
  $('range').addEventListener('change', function () { refreshSeries().catch(function (e) { banner('could not refresh: ' + e.message); }); });
  poll();
})();
`;
