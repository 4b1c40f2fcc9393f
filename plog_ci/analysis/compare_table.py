"""benchstat-style rendering of comparisons: a text table per metric, or JSON.

Text layout (one section per metric, operations sorted, fixed columns)::

    p95 latency       old       new     delta  CI (99%)           p        p(adj)   verdict
    GET /pets      20.0ms    25.0ms    +25.0%  [+21.0%, +29.5%]   2.9e-11  8.7e-11  regression

Rows without a verdict carry a footnote marker; the footnotes give the reason.
When any row has none, the table opens with one line that says why, by reason,
with the numbers of the run and what to change (``no_verdict_line``), so a table
of mostly *no verdict* does not read as a comparison that found nothing.
Operation names are shown with control characters escaped, so a hostile name
cannot forge rows.
"""

from __future__ import annotations

import json
import math
import re
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


# The reasons plog_ci.analysis.significance gives, read back for the one-line summary
# (tests/test_compare_reason.py runs the real statistics, so a reworded reason fails there).
_NEED = re.compile(r"need (\d+)")
_SIGNIFICANCE = re.compile(r"to reach significance at (alpha=\S+) over (\d+) tests")


def _spread(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}-{high}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def no_verdict_line(comparisons: Sequence[Comparison], *, remedies: bool = True) -> str | None:
    """Why the comparisons without a verdict have none, in one line; None if all have one.

    E.g. ``no verdict for 8 of 8 comparisons: p95 on 4 operations, 2 blocks per side
    (the test needs 6); error rate on 4 operations, 20-21 requests per operation and
    side (the test needs 100); for a verdict: more blocks (compare.blocks, at least 6),
    more requests (a longer load.duration or a higher load.rate)``. The numbers are
    the comparisons' own (``n_old``, ``n_new`` and their reasons), grouped by reason.
    ``remedies`` False leaves out "for a verdict: ..." (an adaptive run's fixed tests
    are for reference; more blocks is not the way to its verdict).
    """
    missing = [c for c in comparisons if c.verdict == "no-verdict"]
    if not missing:
        return None
    groups: dict[str, list[Comparison]] = {}
    for c in missing:
        if c.reason.startswith("too few blocks") and _SIGNIFICANCE.search(c.reason):
            kind = "significance"
        elif c.reason.startswith("too few blocks"):
            kind = "blocks"
        elif c.reason.startswith("too few requests"):
            kind = "requests"
        else:
            kind = c.reason.split(":")[0]
        groups.setdefault(kind, []).append(c)
    parts, fixes = [], []
    for kind, rows in groups.items():
        metrics = ", ".join(
            _TITLES.get(m, m).removesuffix(" latency")
            for m in dict.fromkeys(c.metric for c in rows)
        )
        what = f"{metrics} on {_count(len({c.operation for c in rows}), 'operation')}"
        sizes = [n for c in rows for n in (c.n_old, c.n_new)]
        need = _NEED.search(rows[0].reason)
        if kind == "blocks" and need:
            parts.append(f"{what}, {_spread(sizes)} blocks per side (the test needs {need[1]})")
            fixes.append(f"more blocks (compare.blocks, at least {need[1]})")
        elif kind == "requests" and need:
            parts.append(
                f"{what}, {_spread(sizes)} requests per operation and side "
                f"(the test needs {need[1]})"
            )
            fixes.append("more requests (a longer load.duration or a higher load.rate)")
        elif kind == "significance":
            found = _SIGNIFICANCE.search(rows[0].reason)
            assert found is not None
            parts.append(
                f"{what}, {_spread(sizes)} blocks per side cannot reach significance at "
                f"{found[1]} over {found[2]} tests"
            )
            fixes.append("more blocks (compare.blocks, or a longer load.duration)")
        else:
            parts.append(f"{what}: {_safe(kind)}")
    line = f"no verdict for {len(missing)} of {_count(len(comparisons), 'comparison')}: "
    line += "; ".join(parts)
    if fixes and remedies:
        line += "; for a verdict: " + ", ".join(dict.fromkeys(fixes))
    return line


def render_text(
    comparisons: Sequence[Comparison],
    settings: StatsSettings | None = None,
    *,
    secondary: str | None = None,
) -> str:
    """The table as plain text, ending with a newline (led by ``no_verdict_line``
    when a row has no verdict). ``secondary``: a line saying that these fixed tests
    are for reference (an adaptive run, whose sequences decided its relative gates);
    it leads the table, and the no-verdict line then names no remedy."""
    settings = settings or StatsSettings()
    confidence = f"{(1 - settings.alpha) * 100:g}%"
    lines: list[str] = [secondary, ""] if secondary else []
    why = no_verdict_line(comparisons, remedies=secondary is None)
    if why is not None:
        lines += [why, ""]
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
