"""benchstat-style rendering of comparisons: a text table per metric, or JSON.

Text layout (one section per metric, operations sorted, fixed columns)::

    p95 latency       old       new     delta  CI (99%)           p        p(adj)   verdict
    GET /pets      20.0ms    25.0ms    +25.0%  [+21.0%, +29.5%]   2.9e-11  8.7e-11  regression

Rows without a verdict carry a footnote marker; the footnotes give the reason.
Operation names are shown with control characters escaped, so a hostile name
cannot forge rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from plog_ci.analysis.comparison import COMPARED_METRICS, Comparison, StatsSettings

_TITLES = {
    "p50": "p50 latency",
    "p95": "p95 latency",
    "p99": "p99 latency",
    "error_rate": "error rate",
    "rps": "throughput",
}
_COLUMNS = ("old", "new", "delta", "CI", "p", "p(adj)", "verdict")


def _safe(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        out.append(
            ch if ch.isprintable() else (f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        )
    return "".join(out)


def _value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "error_rate":
        return f"{v * 100:.2f}%"
    if metric == "rps":
        return f"{v:.1f}/s"
    return f"{v:.1f}ms" if v < 1000 else f"{v / 1000:.2f}s"


def _signed_pct(v: float | None) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "+inf%" if v > 0 else "-inf%"
    return f"{v:+.1f}%"


def _p(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v >= 0.001 else f"{v:.1e}"


def render_text(comparisons: Sequence[Comparison], settings: StatsSettings | None = None) -> str:
    """The table as plain text, ending with a newline."""
    settings = settings or StatsSettings()
    confidence = f"{(1 - settings.alpha) * 100:g}%"
    lines: list[str] = []
    notes: list[str] = []
    present = [m for m in COMPARED_METRICS if any(c.metric == m for c in comparisons)]
    for metric in present:
        rows = sorted((c for c in comparisons if c.metric == metric), key=lambda c: c.operation)
        table = [
            [_TITLES[metric], "old", "new", "delta", f"CI ({confidence})", "p", "p(adj)", "verdict"]
        ]
        for c in rows:
            ci = (
                "-"
                if c.ci_low_pct is None or c.ci_high_pct is None
                else f"[{_signed_pct(c.ci_low_pct)}, {_signed_pct(c.ci_high_pct)}]"
            )
            verdict = c.verdict
            if c.verdict == "no-verdict":
                notes.append(f"{_safe(c.operation)} {metric}: {_safe(c.reason)}")
                verdict += f" ({len(notes)})"
            table.append(
                [
                    _safe(c.operation),
                    _value(metric, c.old),
                    _value(metric, c.new),
                    _signed_pct(c.delta_pct),
                    ci,
                    _p(c.p_value),
                    _p(c.p_adjusted),
                    verdict,
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            cells = [row[0].ljust(widths[0])]
            cells += [row[i].rjust(widths[i]) for i in range(1, 4)]
            cells += [row[4].ljust(widths[4])]
            cells += [row[i].rjust(widths[i]) for i in range(5, 7)]
            cells += [row[7]]
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    if not present:
        lines += ["no operations to compare", ""]
    counts = {
        v: sum(1 for c in comparisons if c.verdict == v)
        for v in ("regression", "improvement", "unchanged", "no-verdict")
    }
    lines.append(
        ", ".join(f"{n} {v}" for v, n in counts.items())
        + f"  (alpha={settings.alpha:g}, {settings.correction} correction, "
        f"minimum effect {settings.min_effect_pct:g}%)"
    )
    for i, note in enumerate(notes, 1):
        lines.append(f"({i}) {note}")
    return "\n".join(lines) + "\n"


def to_json_data(
    comparisons: Sequence[Comparison], settings: StatsSettings | None = None
) -> dict[str, Any]:
    settings = settings or StatsSettings()
    rows = sorted(comparisons, key=lambda c: (c.operation, COMPARED_METRICS.index(c.metric)))
    return {
        "settings": {
            "alpha": settings.alpha,
            "correction": settings.correction,
            "min_effect_pct": settings.min_effect_pct,
            "min_blocks": settings.min_blocks,
            "paired": settings.paired,
            "bootstrap_resamples": settings.bootstrap_resamples,
            "seed": settings.seed,
        },
        "summary": {
            v: sum(1 for c in comparisons if c.verdict == v)
            for v in ("regression", "improvement", "unchanged", "no-verdict")
        },
        "comparisons": [c.to_dict() for c in rows],
    }


def render_json(comparisons: Sequence[Comparison], settings: StatsSettings | None = None) -> str:
    return json.dumps(to_json_data(comparisons, settings), indent=2, sort_keys=True) + "\n"
