/**
 * The dashboard page: plain HTML and CSS, no build step. Its script is dashboard/script.ts and
 * its chart library (uPlot) is served from node_modules by routes/dashboard.ts, so the page
 * makes no request outside this server.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reembed</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uplot.min.css">
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --hold: #9a6700; --muted: #57606a; --line: #d0d7de; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 12px; color: #1f2328; background: #f6f8fa; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px; margin-bottom: 12px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
  .muted { color: var(--muted); }
  .phase { font-size: 20px; font-weight: 600; }
  .track { display: flex; gap: 4px; margin: 8px 0; }
  .track div { flex: 1; text-align: center; padding: 4px 0; border-radius: 4px; background: #eaeef2; font-size: 12px; }
  .track div.done { background: #a6d8b0; }
  .track div.now { background: var(--ok); color: #fff; font-weight: 600; }
  .bar { height: 10px; background: #eaeef2; border-radius: 5px; overflow: hidden; }
  .bar > div { height: 100%; background: var(--ok); }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
  .pass { color: var(--ok); font-weight: 600; } .fail { color: var(--bad); font-weight: 600; } .nodata, .pending { color: var(--hold); }
  .scroll { overflow-x: auto; }
  #banner { display: none; background: #ffebe9; border: 1px solid var(--bad); color: var(--bad); padding: 6px 10px; border-radius: 6px; margin-bottom: 12px; }
  button, select, input { font: inherit; padding: 4px 8px; }
  .controls { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
  .grid > * { min-width: 0; }
  .chart { min-height: 200px; overflow: hidden; }
</style>
</head>
<body>
<h1>reembed <span class="muted" id="updated"></span></h1>
<div id="banner" role="alert"></div>
<section>
  <div class="controls">
    <span class="phase" id="phase">…</span>
    <span id="percent" class="muted"></span>
    <span id="migration" class="muted"></span>
  </div>
  <div class="track" id="track"></div>
  <div class="muted" id="controller"></div>
</section>
<section>
  <h2>Controls</h2>
  <div class="controls">
    <input id="token" type="password" placeholder="admin token" autocomplete="off" aria-label="admin token">
    <button id="pause">Pause backfill</button>
    <button id="resume">Resume backfill</button>
    <button id="ramp">Ramp to next step</button>
    <input id="reason" placeholder="rollback reason" aria-label="rollback reason">
    <button id="rollback">Roll back</button>
    <span id="action" class="muted"></span>
  </div>
</section>
<div class="grid">
  <section><h2>Coverage</h2><div id="coverage"></div></section>
  <section><h2>Queue, dead letters and just-in-time requests</h2><div class="scroll"><table id="queue"></table></div></section>
  <section><h2>Circuit breakers</h2><div class="scroll"><table id="breakers"></table></div></section>
</div>
<section><h2>Gates</h2><div class="scroll"><table id="gates"></table></div></section>
<section>
  <div class="controls">
    <h2 style="margin:0">Serving</h2>
    <label>range <select id="range">
      <option value="15m">15 m</option><option value="1h" selected>1 h</option>
      <option value="24h">24 h</option><option value="7d">7 d</option>
    </select></label>
  </div>
  <div class="scroll"><table id="serving"></table></div>
  <h2>Rerank stages</h2>
  <div class="scroll"><table id="rerank"></table></div>
  <div class="grid">
    <div><h2>Error rate</h2><div class="chart" id="chart-errors"></div></div>
    <div><h2>p95 latency (ms)</h2><div class="chart" id="chart-p95"></div></div>
    <div><h2>Shadow overlap</h2><div class="chart" id="chart-overlap"></div></div>
  </div>
</section>
<section><h2>Audit history</h2><div class="scroll"><table id="history"></table></div></section>
<script src="/assets/uplot.iife.min.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`;
