"""One run's page as one self-contained HTML file (``plog export``; issue 18, item 5).

The file is the run page (``templates/dashboard/run.html.j2`` in its export mode)
with everything it needs inside it, so CI can keep it as an artifact and anyone can
open it from disk, offline, years later:

* the styles (``dashboard.css``, uPlot's and ``run.css``) in a ``<style>``;
* the page's ES modules (``static/run.js`` and what it imports, uPlot included) as
  ``data:`` URLs in an import map: each module's ``/static/...`` import is rewritten
  to ``plog-export:/static/...`` (a ``data:`` module cannot resolve a path), and the
  map sends those names to the data URLs;
* the data as ``<script type="application/json" id="plog-export">`` (``{format,
  run_id, exported_at, detail: store.run_query.run_detail, series: compact_series,
  operations, omitted, max_operations}``, with ``<``, ``>`` and ``&`` as ``\\u003c``
  etc.): run.js draws from it and never fetches or opens a stream when it is there.

A ``Content-Security-Policy`` meta element (``CSP``) comes before anything else in
the head: no request can leave the page even when the file is served by a web
server (``default-src 'none'``; scripts only inline or ``data:``, styles inline,
images ``data:``).

The seconds of at most ``MAX_SERIES_OPERATIONS`` operations (besides the whole
run) are included: those that a gate or the verdict names first, then the most
failing and slowest (the page's table order), then by name. The others are listed
in the data's ``omitted``; the page says so when one is chosen, and the operations
table keeps their summary statistics.
"""

from __future__ import annotations

import base64
import math
import re
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from plog_ci import __version__
from plog_ci.report.exchanges import exchange_texts
from plog_ci.results import TOTAL
from plog_ci.store.run_query import MAX_OPERATIONS, Cursor, Point, points_after, run_detail
from plog_ci.store.runs_query import read_only
from plog_ci.templating import js_literal, render
from plog_ci.web.dashboard.resources_view import resource_rows
from plog_ci.web.dashboard.static_files import STATIC_DIR

MAX_SERIES_OPERATIONS = MAX_OPERATIONS  # as many as one request of the live page may ask
FORMAT = 1  # the data's version (``format`` in the JSON)
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' data:; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
ENTRY = "run.js"
STYLES = ("vendor/uplot/uPlot.min.css", "run.css")
SCHEME = "plog-export:"
# An import (static) of one of the dashboard's modules: `from "/static/x.js"`.
_IMPORT_RE = re.compile(r'(\b(?:from|import)\s*)"/static/([A-Za-z0-9_./-]+\.js)"')
# What is left after the rewrite and would load something: a dynamic import, another path.
_LEFT_RE = re.compile(
    r"""\bimport\s*\(|^\s*(?:import\s*|(?:import|export)\b[^;'"]*\bfrom\s*)["'](?!plog-export:)""",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Export:
    """An exported page: ``html`` (the file's text), the operations whose seconds it
    holds (``operations``, TOTAL not counted) and those it leaves out (``omitted``),
    and how many per-second points it holds (``points``)."""

    html: str
    operations: list[str]
    omitted: list[str]
    points: int


def _module_url(text: str) -> str:
    return "data:text/javascript;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")


@cache
def import_map() -> dict[str, str]:
    """``{"plog-export:/static/<module>": "data:text/javascript;base64,..."}`` for
    run.js and every module it imports, transitively. ValueError for an import the
    rewrite does not understand (a dynamic one, a path outside ``static/``)."""
    urls: dict[str, str] = {}
    pending = [ENTRY]
    while pending:
        name = pending.pop()
        if f"{SCHEME}/static/{name}" in urls:
            continue
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        found = _IMPORT_RE.findall(text)
        rewritten = _IMPORT_RE.sub(lambda m: f'{m.group(1)}"{SCHEME}/static/{m.group(2)}"', text)
        if _LEFT_RE.search(rewritten):
            raise ValueError(f"{name}: an import the exporter cannot inline")
        urls[f"{SCHEME}/static/{name}"] = _module_url(rewritten)
        pending.extend(path for _, path in found)
    return urls


@cache
def styles() -> str:
    """The page's CSS: the dashboard's, uPlot's, the run page's (ValueError if any
    of it could close the ``<style>`` element)."""
    parts = [render("dashboard/dashboard.css.j2")]
    parts += [(STATIC_DIR / name).read_text(encoding="utf-8") for name in STYLES]
    css = "\n".join(parts)
    if "</" in css or "<!--" in css:
        raise ValueError("a stylesheet holds '</' or '<!--': it cannot be inlined")
    return css


def series_operations(detail: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(included, omitted)``: the operations whose seconds go into the file (at most
    ``MAX_SERIES_OPERATIONS``, in the order of the module doc) and the rest, by name."""
    names = [str(op) for op in detail.get("operations") or []]
    known = set(names)
    stats: dict[str, Any] = detail.get("stats") or {}
    verdict = (detail.get("run") or {}).get("verdict") or {}
    named = [str(g.get("operation") or "") for g in detail.get("gates") or []]
    named += [str(d.get("operation") or "") for d in verdict.get("decided_by") or []]

    def rank(op: str) -> tuple[float, float]:
        s = stats.get(op) or {}
        failures, p95 = s.get("failures"), s.get("p95")
        return (
            -float(failures) if isinstance(failures, int | float) else 0.0,
            -float(p95) if isinstance(p95, int | float) and math.isfinite(p95) else 0.0,
        )

    order = [op for op in named if op in known]
    order += sorted((op for op in names if op in stats), key=rank)
    order += sorted(names)
    ranked = list(dict.fromkeys(op for op in order if op != TOTAL))
    included = ranked[:MAX_SERIES_OPERATIONS]
    return included, sorted(set(ranked) - set(included))


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (JSON has none) as its text: "inf", as
    the page's template shows it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _ms(value: Any) -> Any:
    # Microseconds are the finest a latency means here; 17 digits would double the file.
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    return value


def compact_series(points: list[Point]) -> list[dict[str, Any]]:
    """The seconds as one entry per (side, operation), in the order first seen:
    ``{"side", "operation", "start": first second, "rows": [[seconds since the row
    before, count, failures, p50, p90, p95, p99, max], ...]}`` (latencies in ms to the
    microsecond, None where not stored). run-data.js's ``expandSeries`` undoes it."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    last: dict[tuple[str, str], int] = {}
    for side, op, second, count, failures, *latencies in points:
        key = (side, op)
        entry = out.get(key)
        if entry is None:
            entry = out[key] = {"side": side, "operation": op, "start": second, "rows": []}
            last[key] = second
        entry["rows"].append([second - last[key], count, failures, *map(_ms, latencies)])
        last[key] = second
    return list(out.values())


def export_run(store: Path, run_id: int, *, now: float | None = None) -> Export | None:
    """The run's page as one HTML file, or None when the store has no such run (or
    there is no store at ``store``). sqlite3.DatabaseError for a file that is not a
    results store."""
    detail = run_detail(store, run_id)
    if detail is None:
        return None
    included, omitted = series_operations(detail)
    # With a connection of our own: points_after without one keeps only
    # MAX_OPERATIONS - 1 of the operations asked (its second slice counts TOTAL).
    with read_only(store) as conn:
        if conn is None:
            return None
        found = points_after(store, run_id, included, Cursor(), conn=conn)
    data = {
        "format": FORMAT,
        "run_id": run_id,
        "exported_at": int(now if now is not None else time.time()),
        "detail": _finite(detail),
        "series": compact_series(found.points),
        "operations": included,
        "omitted": omitted,
        "max_operations": MAX_SERIES_OPERATIONS,
    }
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(data["exported_at"]))
    context = {
        "csp": CSP,
        "css": Markup(styles()),  # noqa: S704 - our own files, checked by styles()
        "importmap": Markup(js_literal({"imports": import_map()})),  # noqa: S704 - escaped
        "entry": Markup(f'import "{SCHEME}/static/{ENTRY}";'),  # noqa: S704 - a constant
        "data": Markup(js_literal(data)),  # noqa: S704 - js_literal escapes < > &
        "exported_at": stamp,
        "version": __version__,
    }
    page = render(
        "dashboard/run.html.j2",
        detail=detail,
        run_id=run_id,
        export=context,
        exchange_texts=exchange_texts(detail.get("exchanges")),
        resource_rows=resource_rows(detail.get("resources")),
    )
    return Export(page, included, omitted, len(found.points))
