// The run page (templates/dashboard/run.html.j2): per-second charts of one operation
// (the whole run, "*", unless ?op= names one), kept current while the run runs.
//
// A page opened mid-run first fetches every second from the start
// (/api/runs/<id>/points), then follows the stream (/runs/<id>/events) from the
// cursor that answer gave; on the stream's "end" it reloads once to show the
// finished run. Everything read from the server is shown with textContent.
//
// A page exported to one file (`plog export`) carries its seconds in
// <script id="plog-export">: then the charts come from there, and nothing is
// fetched and no stream is opened (the file has no server; its policy forbids it).

import { Chart } from "/static/run-charts.js";
import {
  RunSeries,
  TOTAL,
  duration,
  gateLine,
  hasLatency,
  omittedNote,
  readExport,
} from "/static/run-data.js";

const FINAL = ["pass", "fail", "no-verdict", "error", "cancelled"];
const RETRY_MS = 3000;

function byId(id) {
  return document.getElementById(id);
}

/** The gates table's rows: {gate, operation, state}. */
function readGates(root) {
  return [...root.querySelectorAll("tr.gate")].map((row) => ({
    gate: row.dataset.gate || "",
    operation: row.dataset.operation || TOTAL,
    state: row.dataset.state || "no-verdict",
  }));
}

/** Select ``value`` in ``select``, adding it (as text) when the page did not list it. */
function choose(select, value) {
  if (![...select.options].some((o) => o.value === value)) select.add(new Option(value, value));
  select.value = value;
}

function showProgress(progress) {
  const box = byId("run-progress");
  if (!box || !progress) return;
  const stage = String(progress.stage || "");
  box.dataset.stage = stage;
  byId("progress-stage").textContent = stage || "starting";
  const items = [...box.querySelectorAll(".stages li")];
  const at = items.findIndex((li) => li.dataset.stage === stage);
  items.forEach((li, i) => {
    li.classList.toggle("stage-current", i === at);
    li.classList.toggle("stage-done", at >= 0 && i < at);
  });
  const bar = byId("progress-bar");
  const total = Number(progress.total);
  if (progress.total !== null && progress.total !== undefined && total > 0) {
    bar.max = total;
    bar.value = Math.min(total, Number(progress.done) || 0);
  } else {
    bar.removeAttribute("value"); // indeterminate: the step's length is not known
  }
  byId("progress-detail").textContent = String(progress.detail || "");
}

function showLocalTimes() {
  for (const el of document.querySelectorAll(".local-time[data-unix]")) {
    const unix = Number(el.dataset.unix);
    if (el.dataset.unix && Number.isFinite(unix)) el.textContent = new Date(unix * 1000).toLocaleString();
  }
}

function main(root) {
  const runId = root.dataset.runId;
  const running = root.dataset.status === "running";
  const exported = readExport(document);
  const series = new RunSeries();
  const charts = [...root.querySelectorAll(".chart[data-chart]")].map(
    (box) => new Chart(box, box.dataset.chart),
  );
  const select = byId("op-select");
  const state = byId("chart-state");
  const note = byId("chart-note");
  const gates = readGates(root);
  const query = new URLSearchParams(window.location.search);
  let metric = query.get("metric");
  let op = query.get("op") || TOTAL;
  let generation = 0; // a newer load makes an older answer moot
  let cursor = "";
  let stream = null;
  let ended = false;
  let focused = !metric;
  choose(select, op);

  function linesFor(kind) {
    const lines = [];
    for (const g of gates) {
      if (g.operation !== op) continue;
      const line = gateLine(g.gate);
      if (line && line.chart === kind) lines.push({ value: line.value, label: g.gate, state: g.state });
    }
    return lines;
  }

  function draw() {
    const aligned = series.aligned(op);
    for (const chart of charts) {
      chart.update(aligned, linesFor(chart.kind));
      for (const span of chart.box.querySelectorAll(".chart-op")) {
        span.textContent = op === TOTAL ? "· whole run" : `· ${op}`;
      }
      const empty = chart.box.querySelector(".chart-empty");
      if (empty) empty.hidden = aligned.x.length === 0 || hasLatency(aligned);
    }
    note.hidden = aligned.x.length > 0;
    if (exported && exported.omitted.has(op)) {
      note.textContent = omittedNote(exported.stats[op], exported.limit);
    } else {
      note.textContent = running ? "No seconds measured yet." : "No seconds stored for this operation.";
    }
    if (!focused && aligned.x.length > 0) {
      focused = true;
      const anchor = byId(`chart-${metric}`);
      const box = anchor && anchor.closest(".chart");
      if (box) {
        for (const chart of charts) chart.box.classList.remove("chart-focus");
        box.classList.add("chart-focus");
        anchor.scrollIntoView({ block: "start" });
      }
    }
  }

  function closeStream() {
    if (stream) stream.close();
    stream = null;
  }

  function end(status) {
    ended = true;
    closeStream();
    state.textContent = status ? `ended: ${status}` : "ended";
    if (!FINAL.includes(status)) return;
    // Once: the reloaded page shows the finished run and opens no stream.
    const key = `plog-run-${runId}-reloaded`;
    if (window.sessionStorage.getItem(key)) return;
    window.sessionStorage.setItem(key, "1");
    window.location.reload();
  }

  // An adaptive comparison's looks (issue 22): one row per look, one [low, high] per
  // sequence. Text only (textContent): operation names come from the spec.
  function showSequence(doc) {
    const section = document.getElementById("sequence");
    if (!section || !doc) return;
    section.hidden = false;
    const pct = (v) => (typeof v === "number" ? `${v >= 0 ? "+" : ""}${v.toFixed(1)}%` : "–");
    const cell = (tag, text, cls) => {
      const el = document.createElement(tag);
      el.textContent = text;
      if (cls) el.className = cls;
      return el;
    };
    const head = document.createElement("tr");
    head.append(cell("th", "rounds", "num"), cell("th", "s per side", "num"));
    for (const q of doc.sequences || []) head.append(cell("th", `${q.operation} ${q.metric} ${q.gate}`));
    const rows = (doc.looks || []).map((look) => {
      const tr = document.createElement("tr");
      tr.append(cell("td", String(look.rounds), "num"), cell("td", Number(look.seconds).toFixed(1), "num"));
      for (const [, lo, hi, decision] of look.intervals || []) {
        const text = typeof lo === "number" && typeof hi === "number" ? `[${pct(lo)}, ${pct(hi)}]` : "–";
        tr.append(cell("td", `${text} ${decision}`));
      }
      return tr;
    });
    section.querySelector("thead").replaceChildren(head);
    section.querySelector("tbody").replaceChildren(...rows);
    const line = document.getElementById("sequence-line");
    if (line) line.textContent = doc.line || `looking after every round: ${rows.length} looks so far`;
  }

  function openStream(mine) {
    const params = new URLSearchParams();
    if (op !== TOTAL) params.append("op", op);
    if (cursor) params.set("after", cursor);
    const source = new EventSource(`/runs/${encodeURIComponent(runId)}/events?${params}`);
    stream = source;
    state.textContent = "live";
    source.addEventListener("points", (event) => {
      const body = JSON.parse(event.data);
      series.add(body.points);
      if (body.cursor) cursor = body.cursor;
      draw();
    });
    source.addEventListener("progress", (event) => showProgress(JSON.parse(event.data)));
    source.addEventListener("sequence", (event) => showSequence(JSON.parse(event.data)));
    source.addEventListener("end", (event) => end(JSON.parse(event.data).status));
    source.addEventListener("error", () => {
      // EventSource retries by itself after a dropped stream; a refused one (503,
      // 404) is closed for good: open a new one from the cursor, later.
      if (source.readyState !== EventSource.CLOSED || ended) return;
      state.textContent = "reconnecting…";
      window.setTimeout(() => {
        if (!ended && mine === generation && stream === source) openStream(mine);
      }, RETRY_MS);
    });
  }

  async function load() {
    const mine = ++generation;
    closeStream();
    const params = new URLSearchParams();
    if (op !== TOTAL) params.append("op", op);
    let body;
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(runId)}/points?${params}`, {
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body = await response.json();
    } catch (error) {
      if (mine !== generation) return;
      state.textContent = `could not load the seconds (${error.message})`;
      if (running && !ended) window.setTimeout(() => mine === generation && load(), RETRY_MS);
      return;
    }
    if (mine !== generation) return;
    series.clear();
    series.add(body.points);
    cursor = body.cursor || "";
    showProgress(body.progress);
    draw();
    if (!running || ended) return;
    if (body.status && body.status !== "running") end(body.status);
    else openStream(mine);
  }

  /** An exported page: every second is in the file; choosing only redraws. */
  function showExport() {
    for (const option of select.options) {
      if (exported.omitted.has(option.value)) option.textContent = `${option.value} (not in the export)`;
    }
    state.textContent = running ? "snapshot: the run was going on when it was exported" : "";
    select.addEventListener("change", () => {
      op = select.value;
      draw();
    });
    // The tables' links name their operation (data-op) instead of a query to reload with.
    root.addEventListener("click", (event) => {
      const link = event.target.closest("a[data-op]");
      if (!link) return;
      choose(select, link.dataset.op);
      op = select.value;
      metric = link.dataset.metric || null;
      focused = !metric;
      draw();
    });
    series.add(exported.points);
    showProgress(exported.progress);
    draw();
  }

  showLocalTimes();
  if (exported) {
    showExport();
    return;
  }
  select.addEventListener("change", () => {
    op = select.value;
    const url = new URL(window.location.href);
    url.searchParams.set("op", op);
    window.history.replaceState(null, "", url);
    load();
  });
  const started = Number(root.dataset.started);
  if (running && root.dataset.started && Number.isFinite(started)) {
    const shown = byId("run-duration");
    const tick = () => {
      if (!ended) shown.textContent = `${duration(Date.now() / 1000 - started)} so far`;
    };
    tick();
    window.setInterval(tick, 1000);
  }
  load();
}

const root = byId("run");
if (root) main(root);
