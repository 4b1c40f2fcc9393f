"""``plog export RUN_ID`` (issue 18, item 5): one stored run's page as one HTML file
with its styles, modules and data inside, that loads nothing and opens offline.

Real parts: the runs are written to a real results store by the run page's own
builders (tests/web/test_run_template.py), and the command runs through click's
CliRunner. The browser half is tests/web/browser/test_export_offline.py.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from plog_ci.cli import cli
from plog_ci.results import TOTAL, SeriesPoint
from plog_ci.store.live import LiveWriter
from plog_ci.store.run_query import Cursor, points_after, run_detail
from plog_ci.store.sqlite import ResultsStore
from plog_ci.web.dashboard.export import (
    CSP,
    MAX_SERIES_OPERATIONS,
    compact_series,
    export_run,
    import_map,
)
from tests.web.test_run_template import (
    HOSTILE_OP,
    IMG,
    IMG_OP,
    SCRIPT,
    add_seconds,
    finished_failed_run,
    interleaved_run,
    new_run,
    running_run,
    stats,
)

BREAKOUT_OP = "</script><script>alert(1)</script>"  # closes the data element, if unescaped
COMMENT_OP = "<!--<script>alert(2)</script>"
TEMPLATE_OP = "${alert(3)}`"
DATA_RE = re.compile(r'<script type="application/json" id="plog-export">(.*?)</script>', re.S)
MAP_RE = re.compile(r'<script type="importmap">(.*?)</script>', re.S)


def export(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["export", *args, "--home", str(home)])


def data_of(page: str) -> dict[str, Any]:
    found = DATA_RE.findall(page)
    assert len(found) == 1
    parsed: dict[str, Any] = json.loads(found[0])
    return parsed


def expand(series: list[dict[str, Any]]) -> list[list[Any]]:
    """run-data.js's expandSeries, in Python."""
    out = []
    for s in series:
        second = s["start"]
        for row in s["rows"]:
            second += row[0]
            out.append([s["side"], s["operation"], second, *row[1:]])
    return out


def rounded(points: list[Any]) -> list[list[Any]]:
    return [[*p[:5], *(round(v, 3) if isinstance(v, float) else v for v in p[5:])] for p in points]


def by_time(p: list[Any]) -> tuple[int, str, str]:
    return (p[2], p[0], p[1])  # points_after's order


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def self_contained(page: str) -> None:
    """Nothing in the page loads anything: every href is an anchor, no element has a
    src, no link element, no absolute URL; the policy comes first."""
    lowered = page.lower()
    tags = Tags(page).tags
    assert not [a for _, a in tags if "src" in a or "srcset" in a]
    hrefs = [a["href"] or "" for _, a in tags if "href" in a]
    assert all(h.startswith(("#", "data:")) for h in hrefs), hrefs
    assert not [t for t, _ in tags if t in ("link", "img", "iframe", "object", "embed", "base")]
    # Absolute URLs only as text (a failed exchange's request line), never to load.
    outside_text = re.sub(
        r'<pre[^>]*>.*?</pre>|<script type="application/json".*?</script>', "", lowered, flags=re.S
    )
    assert "http://" not in outside_text and "https://" not in outside_text
    assert "url(http" not in lowered.replace(" ", "")
    scripts = [a.get("type") for t, a in tags if t == "script"]
    assert scripts == ["importmap", "module", "application/json"]
    head = lowered.split("</head>")[0]
    policy = head.index('http-equiv="content-security-policy"')
    assert policy < head.index("<style") and policy < head.index("<script")
    policies = [
        a.get("content") for t, a in tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policies == [CSP]
    # Three scripts, all ours: the import map, the entry module, the data.
    assert lowered.count("<script") == 3 and lowered.count("</script>") == 3
    modules = json.loads(MAP_RE.findall(page)[0])["imports"]
    assert modules == import_map()
    assert set(modules) == {
        f"plog-export:/static/{m}"
        for m in ("run.js", "run-data.js", "run-charts.js", "vendor/uplot/uPlot.esm.js")
    }
    for url in modules.values():
        prefix = "data:text/javascript;base64,"
        assert url.startswith(prefix)
        source = base64.b64decode(url[len(prefix) :]).decode("utf-8")
        # Each module imports the others by the map's names only: a path would not resolve.
        imports = re.findall(r'^import\b[^;]*?from\s*"([^"]*)"', source, re.M)
        assert all(i.startswith("plog-export:/static/") for i in imports), imports
    assert re.search(r'<script type="module">import "plog-export:/static/run\.js";</script>', page)


def test_export_writes_one_file_that_holds_the_run(store: ResultsStore, plog_home: Path) -> None:
    run_id = finished_failed_run(store)
    out = plog_home.parent / "out" / "run.html"
    out.parent.mkdir()
    result = export(plog_home, str(run_id), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    page = out.read_text(encoding="utf-8")
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    self_contained(page)
    data = data_of(page)
    detail = run_detail(store.path, run_id)
    assert data["detail"] == json.loads(json.dumps(detail))
    assert data["run_id"] == run_id and data["format"] == 1 and data["omitted"] == []
    # The failed gate's operation comes first; every operation's seconds are there.
    assert data["operations"][0] == HOSTILE_OP
    assert sorted(data["operations"]) == sorted(detail["operations"] if detail else [])
    expected = points_after(store.path, run_id, data["operations"], Cursor()).points
    got = expand(data["series"])
    assert {(p[0], p[1]) for p in got} == {("", op) for op in [TOTAL, *data["operations"]]}
    assert sorted(got, key=by_time) == rounded([list(p) for p in expected])
    # The page is the run page: its tables and charts, links kept inside the file.
    assert 'id="chart-rps"' in page and 'class="gate gate-failed gate-decisive"' in page
    assert (
        f'<a class="gate-link" href="#chart-p95" data-op="{html.escape(HOSTILE_OP)}" '
        'data-metric="p95">' in page
    )
    assert "exported" in page and "a file, no server" in page


def test_stored_strings_stay_text(store: ResultsStore, plog_home: Path) -> None:
    run_id = new_run(store)
    ops = [BREAKOUT_OP, COMMENT_OP, TEMPLATE_OP, IMG_OP]
    add_seconds(store, run_id, ops, 1_700_000_000, 3)
    store.save_stats(run_id, "h" * 64, {op: stats(op) for op in ops})
    store.save_gate_outcomes(
        run_id,
        [{"gate": f"p95 < 1ms [{BREAKOUT_OP}]", "operation": BREAKOUT_OP, "level": "fail",
          "value": 40.0, "passed": False, "decisive": True, "detail": COMMENT_OP}],
    )  # fmt: skip
    store.finish_run(run_id, "fail", {"status": "fail", "reason": BREAKOUT_OP}, None)
    result = CliRunner().invoke(cli, ["export", str(run_id), "--home", str(plog_home), "-o", "-"])
    assert result.exit_code == 0, result.output
    page = result.stdout
    self_contained(page)
    for raw in (BREAKOUT_OP, COMMENT_OP, SCRIPT, IMG):
        assert raw not in page
    assert "<img" not in page.lower() and "<!--<" not in page
    raw_data = DATA_RE.findall(page)[0]
    assert "<" not in raw_data and ">" not in raw_data and "&" not in raw_data
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in raw_data
    data = data_of(page)
    assert set(data["operations"]) == set(ops)
    assert data["detail"]["run"]["verdict"]["reason"] == BREAKOUT_OP
    assert TEMPLATE_OP in html.unescape(page)  # as text in the tables, not evaluated


def test_many_operations_keep_a_bounded_number_of_series(
    store: ResultsStore, plog_home: Path
) -> None:
    run_id = new_run(store)
    ops = [f"GET /items/{i:02d}" for i in range(MAX_SERIES_OPERATIONS + 5)]
    add_seconds(store, run_id, ops, 1_700_000_000, 4)
    slow = {op: stats(op, p95=40.0 + i) for i, op in enumerate(ops)}
    store.save_stats(run_id, "h" * 64, slow)
    named = ops[0]  # the fastest, but a gate names it
    store.save_gate_outcomes(
        run_id,
        [{"gate": "p95 < 300ms", "operation": named, "level": "fail", "value": 40.0,
          "passed": True, "decisive": False, "detail": ""}],
    )  # fmt: skip
    store.finish_run(run_id, "pass", {"status": "pass", "reason": "ok"}, None)
    exported = export_run(store.path, run_id)
    assert exported is not None
    data = data_of(exported.html)
    assert data["max_operations"] == MAX_SERIES_OPERATIONS == len(data["operations"])
    assert data["operations"][0] == named
    # Then the slowest first; the five fastest others are left out, listed by name.
    assert data["omitted"] == sorted(ops[1:6])
    assert data["operations"][1:] == list(reversed(ops[6:]))
    got = expand(data["series"])
    assert {p[1] for p in got} == {TOTAL, *data["operations"]}
    assert len(got) == 4 * (MAX_SERIES_OPERATIONS + 1) == exported.points
    # Their summaries stay in the operations table.
    assert all(html.escape(op) in exported.html for op in data["omitted"])


def test_a_running_and_an_interleaved_run_export(store: ResultsStore, plog_home: Path) -> None:
    running = export_run(store.path, running_run(store))
    assert running is not None
    data = data_of(running.html)
    assert data["detail"]["run"]["status"] == "running"
    assert data["detail"]["progress"]["stage"] == "measure"
    self_contained(running.html)
    sided = export_run(store.path, interleaved_run(store))
    assert sided is not None
    series = data_of(sided.html)["series"]
    assert {(s["side"], s["operation"]) for s in series} == {
        (side, op) for side in ("base", "head") for op in (TOTAL, IMG_OP)
    }


def test_compact_series_round_trips() -> None:
    points = [
        ("", TOTAL, 100, 5, 1, 1.23456789, None, 3.0, 4.0, 5.0),
        ("", TOTAL, 101, 6, 0, 2.0, 2.5, 3.0, 4.0, 5.0),
        ("", TOTAL, 104, 7, 0, None, None, None, None, None),
        ("base", "GET /", 100, 1, 0, 1.0, 1.0, 1.0, 1.0, 1.0),
    ]
    series = compact_series(points)
    assert series[0]["rows"][2][0] == 3  # seconds since the row before
    assert expand(series) == rounded([list(p) for p in points])


def test_default_name_and_exit_codes(
    store: ResultsStore, plog_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = finished_failed_run(store)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert export(plog_home, str(run_id)).exit_code == 0
    assert (work / f"plog-run-{run_id}.html").read_text(encoding="utf-8").startswith("<!doctype")
    store_path = plog_home / "results.sqlite3"
    # An unknown run: exit 2, the run and the store named.
    missing = export(plog_home, "424242")
    assert missing.exit_code == 2
    assert "no run #424242" in missing.output and str(store_path) in missing.output
    # No store at all: exit 2, nothing created.
    empty = tmp_path / "empty-home"
    nothing = export(empty, str(run_id))
    assert nothing.exit_code == 2 and str(empty / "results.sqlite3") in nothing.output
    assert f"run #{run_id}" in nothing.output and not empty.exists()
    # A file that cannot be written (its folder is a file): exit 4, nothing left.
    blocked = work / "a-file"
    blocked.write_text("x")
    unwritable = export(plog_home, str(run_id), "-o", str(blocked / "run.html"))
    assert unwritable.exit_code == 4 and "cannot write" in unwritable.output
    assert sorted(p.name for p in work.iterdir()) == ["a-file", f"plog-run-{run_id}.html"]


def test_a_large_run_stays_under_5_mb(store: ResultsStore, plog_home: Path) -> None:
    """200 operations for 30 minutes, latencies with every digit a float has. Only the
    seconds the file keeps are written (25 operations' and the whole run's): the other
    175 operations' seconds never reach it; their statistics do."""
    rnd = random.Random(18)
    run_id = new_run(store)
    ops = [f"GET /api/v1/resource-{i:03d}/{{id}}" for i in range(200)]
    store.save_stats(run_id, "h" * 64, {op: stats(op, p95=40.0 + i) for i, op in enumerate(ops)})
    kept = ops[-MAX_SERIES_OPERATIONS:]  # the slowest
    first = 1_700_000_000

    def second(op: str, s: int) -> SeriesPoint:
        p50 = rnd.uniform(5, 50)
        return SeriesPoint(op, first + s, rnd.randint(5, 40), rnd.choice([0, 0, 1]),
                           p50, p50 * 1.7, p50 * 2.1, p50 * 3.3, p50 * 5.9)  # fmt: skip

    for start in range(0, 1800, 300):
        store.save_series(run_id, [second(op, s) for s in range(start, start + 300) for op in kept])
    LiveWriter(store, run_id).add([second(TOTAL, s) for s in range(1800)])
    store.finish_run(run_id, "pass", {"status": "pass", "reason": "ok"}, None)
    exported = export_run(store.path, run_id)
    assert exported is not None
    assert sorted(exported.operations) == sorted(kept) and len(exported.omitted) == 175
    assert exported.points == 26 * 1800
    size = len(exported.html.encode("utf-8"))
    assert size < 5_000_000, size  # measured: 2.7 MB
