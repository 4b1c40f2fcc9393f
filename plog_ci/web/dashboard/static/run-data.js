// The run page's data: seconds as the points API and the stream send them, and the
// gates read from the page's table. No DOM here (run.js and run-charts.js draw).
//
// A point is [side, operation, second, count, failures, p50, p90, p95, p99, max]:
// side "" for a run of one side, "base"/"head" for a side-by-side run; second is
// Unix time (whole seconds); latencies in ms, null where not stored.

export const TOTAL = "*";
export const SIDES = ["base", "head"];
export const PERCENTILES = ["p50", "p90", "p95", "p99"];
const P_INDEX = { p50: 5, p90: 6, p95: 7, p99: 8, max: 9 };

// gate_grammar's spellings (plog_ci/gate_grammar.py): metric op [sign]number [unit].
const GATE_RE =
  /^\s*([a-z_][a-z0-9_]*|p\(\d+\))\s*(<=|>=|<|>)\s*([+-])?(\d+(?:\.\d+)?)\s*(ms|us|s|%)?(?:\s|\[|$)/i;
const ALIASES = { avg: "mean", med: "p50", "p(50)": "p50", "p(90)": "p90", "p(95)": "p95", "p(99)": "p99" };
const UNIT_MS = { ms: 1, s: 1000, us: 0.001 };

/**
 * The line a gate draws, or null when it draws none (a relative gate, a metric
 * without a chart, a label that is not a gate).
 * Returns {chart: "rps"|"latency"|"error_rate", metric, op, value} in the chart's
 * units: requests/s, ms, percent.
 */
export function gateLine(label) {
  const m = GATE_RE.exec(String(label || ""));
  if (!m || m[3]) return null; // a sign: relative to the base (table only)
  const metric = ALIASES[m[1].toLowerCase()] || m[1].toLowerCase();
  const number = Number(m[4]);
  const unit = (m[5] || "").toLowerCase();
  if (PERCENTILES.includes(metric)) {
    if (unit === "%") return null;
    return { chart: "latency", metric, op: m[2], value: number * (UNIT_MS[unit] || 1) };
  }
  if (metric === "error_rate") {
    return { chart: "error_rate", metric, op: m[2], value: unit === "%" ? number : number * 100 };
  }
  if (metric === "rps" && !unit) return { chart: "rps", metric, op: m[2], value: number };
  return null;
}

/** Seconds of every (side, operation) seen, merged by second (a second sent twice
 * is the same second: the later copy wins). */
export class RunSeries {
  constructor() {
    this.rows = new Map(); // "side\u0000operation" -> Map(second -> point)
    this.sided = false;
  }

  clear() {
    this.rows.clear();
    this.sided = false;
  }

  add(points) {
    for (const p of points || []) {
      if (!Array.isArray(p) || p.length < 10) continue;
      const key = `${p[0]}\u0000${p[1]}`;
      let bySecond = this.rows.get(key);
      if (!bySecond) {
        bySecond = new Map();
        this.rows.set(key, bySecond);
      }
      bySecond.set(Number(p[2]), p);
      if (SIDES.includes(p[0])) this.sided = true;
    }
  }

  /** The sides drawn: base and head once any side point came, else the run's own. */
  sides() {
    return this.sided ? SIDES : [""];
  }

  /**
   * The operation's seconds aligned for uPlot: {x: [seconds], sides: [side], bySide:
   * [[point|null per second]]}; seconds are the union over the sides drawn.
   */
  aligned(operation) {
    const sides = this.sides();
    const maps = sides.map((s) => this.rows.get(`${s}\u0000${operation}`) || new Map());
    const seconds = new Set();
    for (const m of maps) for (const s of m.keys()) seconds.add(s);
    const x = [...seconds].sort((a, b) => a - b);
    return { x, sides, bySide: maps.map((m) => x.map((s) => m.get(s) || null)) };
  }
}

/** Requests in each second, per side. */
export function rpsColumns(aligned) {
  return aligned.bySide.map((col) => col.map((p) => (p ? p[3] : null)));
}

/** The percentile's ms in each second, per side (null where not stored). */
export function latencyColumn(points, name) {
  const i = P_INDEX[name];
  return points.map((p) => (p && p[i] !== null && p[i] !== undefined ? Number(p[i]) : null));
}

/** Failed requests as a percentage of the second's requests, per side. */
export function errorColumns(aligned) {
  return aligned.bySide.map((col) =>
    col.map((p) => (p && p[3] > 0 ? (100 * p[4]) / p[3] : null)),
  );
}

/** Whether any second of the operation holds a latency (old stores keep none for "*"). */
export function hasLatency(aligned) {
  return aligned.bySide.some((col) => col.some((p) => p && p[7] !== null && p[7] !== undefined));
}

/** "1 min 05 s" / "12.0 s" / "2 h 03 min" for a number of seconds. */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const pad = (n) => String(Math.floor(n)).padStart(2, "0");
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${pad(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${pad((seconds % 3600) / 60)} min`;
}

/**
 * Points ([side, operation, second, count, failures, p50, p90, p95, p99, max]) from
 * an export's compact series (web/dashboard/export.py, compact_series): one entry
 * per side and operation, each row's second given from the row before.
 */
export function expandSeries(series) {
  const points = [];
  for (const s of Array.isArray(series) ? series : []) {
    let second = Number(s.start);
    for (const row of Array.isArray(s.rows) ? s.rows : []) {
      second += Number(row[0]);
      points.push([String(s.side), String(s.operation), second, ...row.slice(1, 8)]);
    }
  }
  return points;
}

/**
 * The data of a page that `plog export` wrote to one file (its
 * <script type="application/json" id="plog-export">), or null on the live page.
 * Returns {points, omitted: Set of operations whose seconds were left out, limit:
 * how many operations' seconds an export keeps, stats: {operation: summary},
 * progress}.
 */
export function readExport(doc) {
  const element = doc.getElementById("plog-export");
  if (!element) return null;
  const data = JSON.parse(element.textContent || "{}");
  const detail = data.detail || {};
  return {
    points: expandSeries(data.series),
    omitted: new Set(Array.isArray(data.omitted) ? data.omitted : []),
    limit: Number(data.max_operations) || 0,
    stats: detail.stats || {},
    progress: detail.progress || null,
  };
}

/** What an export says for an operation whose seconds it left out: why, and the
 * operation's summary (its row of the operations table). */
export function omittedNote(stats, limit) {
  const s = stats || {};
  const parts = [];
  if (Number.isFinite(s.count)) parts.push(`${s.count} requests`);
  if (Number.isFinite(s.failures)) parts.push(`${s.failures} failed`);
  for (const p of ["p50", "p95", "p99"]) {
    if (Number.isFinite(s[p])) parts.push(`${p} ${s[p].toFixed(1)} ms`);
  }
  const summary = parts.length ? ` Summary: ${parts.join(", ")}.` : "";
  return (
    `Not included in the export: it keeps the seconds of ${limit} operations ` +
    `(those the gates name, then the most failing and slowest).${summary}`
  );
}
