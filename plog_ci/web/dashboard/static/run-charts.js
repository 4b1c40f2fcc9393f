// The run page's three per-second charts (uPlot): requests per second, latency
// percentiles, error rate. Base and head of a side-by-side run share the axes
// (base dashed). Gates are dashed horizontal lines drawn on the canvas, coloured by
// their status, and listed as text under the chart.

import uPlot from "/static/vendor/uplot/uPlot.esm.js";
import { PERCENTILES, errorColumns, latencyColumn, rpsColumns } from "/static/run-data.js";

const HEIGHT = 220;
const X_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 86400];
const STATE_COLOURS = { failed: "#cf222e", passed: "#1a7f37", "no-verdict": "#8c959f" };
const P_COLOURS = { p50: "#1a7f37", p90: "#0969da", p95: "#bf8700", p99: "#cf222e" };
const SIDE_DASH = { base: [5, 4], head: undefined, "": undefined };

function seriesFor(kind, sides) {
  const out = [{}];
  for (const side of sides) {
    const prefix = side ? `${side} ` : "";
    const dash = SIDE_DASH[side];
    if (kind === "latency") {
      for (const p of PERCENTILES) {
        out.push({ label: `${prefix}${p}`, stroke: P_COLOURS[p], dash, width: 1.5, spanGaps: false });
      }
    } else {
      const stroke = kind === "rps" ? (side === "base" ? "#8c959f" : "#0969da") : side === "base" ? "#e5534b" : "#cf222e";
      const name = kind === "rps" ? "requests/s" : "errors %";
      out.push({ label: `${prefix}${name}`, stroke, dash, width: 1.5 });
    }
  }
  return out;
}

function columns(kind, aligned) {
  if (kind === "rps") return rpsColumns(aligned);
  if (kind === "error_rate") return errorColumns(aligned);
  const cols = [];
  for (const col of aligned.bySide) for (const p of PERCENTILES) cols.push(latencyColumn(col, p));
  return cols;
}

/** A uPlot plugin drawing ``lines()`` ([{value, label, state}]) across the plot. */
function gatePlugin(lines) {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const { left, top, width, height } = u.bbox;
          for (const line of lines()) {
            const y = Math.round(u.valToPos(line.value, "y", true));
            if (!Number.isFinite(y) || y < top || y > top + height) continue;
            ctx.save();
            ctx.strokeStyle = STATE_COLOURS[line.state] || STATE_COLOURS["no-verdict"];
            ctx.fillStyle = ctx.strokeStyle;
            ctx.lineWidth = 1.5 * uPlot.pxRatio;
            ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
            ctx.beginPath();
            ctx.moveTo(left, y);
            ctx.lineTo(left + width, y);
            ctx.stroke();
            ctx.font = `${11 * uPlot.pxRatio}px system-ui, sans-serif`;
            ctx.textAlign = "left"; // uPlot leaves the axes' alignment set
            ctx.textBaseline = "bottom";
            ctx.fillText(`${line.label} (${line.state})`, left + 4 * uPlot.pxRatio, y - 4 * uPlot.pxRatio);
            ctx.restore();
          }
        },
      ],
    },
  };
}

export class Chart {
  /** ``box``: the page's ``.chart`` element; ``kind``: its ``data-chart``. */
  constructor(box, kind) {
    this.box = box;
    this.kind = kind;
    this.plotBox = box.querySelector(".chart-plot");
    this.lines = [];
    this.plot = null;
    this.signature = "";
    new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: HEIGHT });
    }).observe(this.plotBox);
  }

  width() {
    return Math.max(320, this.plotBox.clientWidth || 600);
  }

  /** Draw ``aligned`` (RunSeries.aligned) with ``lines`` (gate lines of this chart). */
  update(aligned, lines) {
    this.lines = lines;
    const data = [aligned.x, ...columns(this.kind, aligned)];
    const signature = aligned.sides.join(",");
    if (!this.plot || signature !== this.signature) {
      if (this.plot) this.plot.destroy();
      this.signature = signature;
      this.plot = new uPlot(this.options(aligned.sides), data, this.plotBox);
    } else {
      this.plot.setData(data);
    }
    this.box.dataset.points = String(aligned.x.length);
    this.box.dataset.sides = aligned.sides.join(",");
    this.listGates();
  }

  options(sides) {
    return {
      width: this.width(),
      height: HEIGHT,
      series: seriesFor(this.kind, sides),
      scales: {
        x: { time: true },
        y: {
          // From zero, and high enough that every gate line shows.
          range: (u, min, max) => {
            const top = Math.max(Number.isFinite(max) ? max : 0, ...this.lines.map((l) => l.value));
            return [0, top > 0 ? top * 1.1 : 1];
          },
        },
      },
      // Whole seconds at least: the points are per second.
      axes: [{ incrs: X_INCRS }, { size: 56 }],
      plugins: [gatePlugin(() => this.lines)],
    };
  }

  listGates() {
    const list = this.box.querySelector(".chart-gates");
    if (!list) return;
    list.replaceChildren(
      ...this.lines.map((line) => {
        const item = document.createElement("li");
        item.className = `gate-line gate-${line.state}`;
        item.dataset.value = String(line.value);
        item.textContent = `${line.label}: ${line.state}`;
        return item;
      }),
    );
  }
}
