"""The run page's template (issue 18, items 2, 3 and 6) through the real app over a
real results store: finished, running, interleaved and old-store runs, with hostile
strings where a spec, a service or a repository puts them. They must come out as
text: escaped in the HTML, never a tag, an attribute or a link target.

The ``*_run`` builders here write runs the way the pipeline does (start_run,
save_stats, gate outcomes, live rows, documents, finish_run); the browser tests
use them too.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from markupsafe import escape

from plog_ci.results import TOTAL, OperationStats, SeriesPoint
from plog_ci.store.live import LiveWriter, ProgressWriter, save_documents
from plog_ci.store.sqlite import ResultsStore

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_LINK = "javascript:alert(1)"
HOSTILE_OP = f"GET /pets/{SCRIPT}"
IMG_OP = f"POST /{IMG}"
PLAIN_OP = "GET /pets"
FAILED_GATE = f"p95 < 300ms [{HOSTILE_OP}]"
SHA = "0123456789abcdef0123456789abcdef01234567"
OUR_SCRIPT = '<script type="module" src="/static/run.js"></script>'


def new_run(store: ResultsStore, *, branch: str = "main", repo: str = "/srv/shop") -> int:
    return store.start_run(
        repo=repo,
        commit_sha=SHA,
        parent=None,
        base_sha="fedcba9876543210fedcba9876543210fedcba98",
        branch=branch,
        profile="smoke",
        config_hash="c" * 64,
        spec_hash="s" * 64,
        environment={"k6": "v0.50.0", f"cpu {SCRIPT}": IMG, "nested": {"a": [1, SCRIPT]}},
    )


def point(
    op: str, second: int, count: int = 20, failures: int = 0, p95: float = 40.0
) -> SeriesPoint:
    return SeriesPoint(
        operation=op,
        second=second,
        count=count,
        failures=failures,
        p50=p95 / 2,
        p90=p95 * 0.9,
        p95=p95,
        p99=p95 * 1.5,
        max=p95 * 2,
    )


def add_seconds(store: ResultsStore, run_id: int, ops: list[str], start: int, n: int) -> None:
    """``n`` seconds of ``ops`` (the series table) and of the whole run (live rows)."""
    seconds = range(start, start + n)
    store.save_series(
        run_id,
        [point(op, s, p95=350.0 if op == HOSTILE_OP else 40.0) for s in seconds for op in ops],
    )
    LiveWriter(store, run_id).add(
        [point(TOTAL, s, count=20 * len(ops), failures=1) for s in seconds]
    )


def stats(op: str, *, failures: int = 0, p95: float = 40.0) -> OperationStats:
    return OperationStats(
        operation=op,
        count=600,
        failures=failures,
        rps=20.0,
        min=1.0,
        mean=p95 / 2,
        p50=p95 / 2,
        p90=p95 * 0.9,
        p95=p95,
        p99=p95 * 1.5,
        max=p95 * 2,
        errors_by_status={JS_LINK: failures} if failures else {},
    )


def finished_failed_run(store: ResultsStore, *, start: int | None = None) -> int:
    """A failed run: the p95 gate of HOSTILE_OP failed (decisive), others passed;
    every document the page shows, with hostile strings in each."""
    run_id = new_run(store, branch=f"{JS_LINK}{IMG}", repo=f"/srv/{SCRIPT}")
    first = start if start is not None else int(time.time()) - 60
    ops = [PLAIN_OP, HOSTILE_OP, IMG_OP]
    add_seconds(store, run_id, ops, first, 30)
    store.save_stats(
        run_id,
        "h" * 64,
        {
            PLAIN_OP: stats(PLAIN_OP),
            HOSTILE_OP: stats(HOSTILE_OP, p95=350.0),
            IMG_OP: stats(IMG_OP, failures=12),
            TOTAL: stats(TOTAL, failures=12, p95=300.0),
        },
    )
    outcomes = [
        {"gate": FAILED_GATE, "operation": HOSTILE_OP, "level": "fail", "value": 350.0,
         "passed": False, "decisive": True, "detail": f"350.0ms {SCRIPT}"},
        {"gate": "error_rate < 5%", "operation": IMG_OP, "level": "fail", "value": 0.02,
         "passed": True, "decisive": False, "detail": IMG},
        {"gate": "p95 <= +10%", "operation": PLAIN_OP, "level": "warn", "value": 2.5,
         "passed": None, "decisive": False, "detail": "no comparable baseline"},
    ]  # fmt: skip
    store.save_gate_outcomes(run_id, outcomes)
    store.save_errors(run_id, {IMG_OP: {JS_LINK: 7, f"500 {SCRIPT}": 5}})
    exchange = {
        "request": {"method": "POST", "url": f"http://127.0.0.1:1/{IMG}", "body": SCRIPT},
        "response": {"status": 500, "ms": 3.5, "body": f"boom {IMG}"},
    }
    store.save_exchanges(run_id, {IMG_OP: [exchange]})
    store.save_findings(
        run_id, [{"kind": "slow", "operation": HOSTILE_OP, "message": f"slow {IMG}", "data": {}}]
    )
    comparison = {
        "operation": HOSTILE_OP, "metric": "p95", "old": 200.0, "new": 350.0, "delta_pct": 75.0,
        "ci_low_pct": 60.0, "ci_high_pct": "inf", "p_value": 0.0001, "p_adjusted": 0.0003,
        "verdict": "regression", "reason": IMG, "n_old": 10, "n_new": 10, "test": "mwu",
    }  # fmt: skip
    change = {
        "id": "response-removed",
        "level": "breaking",
        "operation": HOSTILE_OP,
        "message": f"{JS_LINK} {SCRIPT}",
        "source": "",
    }
    tally = {"producer": IMG_OP, "side": "", "created": 3, "tried": 4, "answered": 4}
    documents = {
        "comparisons": {
            "settings": {"alpha": 0.05, "correction": "holm", "min_effect_pct": 5},
            "summary": {"regression": 1},
            "comparisons": [comparison],
        },
        "changes": {
            "operations": {"added": [IMG_OP], "removed": [], "modified": [HOSTILE_OP]},
            "changes": [change],
            "breaking": True,
        },
        "baseline": {"source": "stored", "note": SCRIPT, "run_id": None, "paired": False},
        "result": {
            "duration_s": 30.2,
            "planned_s": 30,
            "aborted": False,
            "selected": ops,
            "setup": [tally],
            "script_hash": "h" * 64,
        },
    }
    save_documents(store, run_id, documents)
    verdict = {
        "status": "fail",
        "reason": f"{FAILED_GATE} failed {IMG}",
        "decided_by": [
            {"gate": FAILED_GATE, "operation": HOSTILE_OP, "value": 350.0, "detail": SCRIPT}
        ],
    }
    store.finish_run(run_id, "fail", verdict, None)
    return run_id


def running_run(store: ResultsStore, *, seconds: int = 5, start: int | None = None) -> int:
    """A run still running: a few seconds so far, in the measure stage."""
    run_id = new_run(store, branch=SCRIPT)
    first = start if start is not None else int(time.time()) - seconds
    add_seconds(store, run_id, [PLAIN_OP, HOSTILE_OP], first, seconds)
    progress = ProgressWriter(store, run_id, min_interval_s=0.0)
    progress.stage("measure")
    progress.step(f"Loading 2 operations for 30 s {SCRIPT}", total=30.0)
    progress.advance_to(float(seconds))
    return run_id


def interleaved_run(store: ResultsStore, *, seconds: int = 10) -> int:
    """A finished interleaved run: base and head seconds of each operation."""
    run_id = new_run(store, branch=IMG)
    store.set_kind(run_id, "interleaved")
    first = int(time.time()) - 60
    writer = LiveWriter(store, run_id)
    for side, p95 in (("base", 30.0), ("head", 45.0)):
        writer.add_sides(
            {
                side: [
                    point(op, first + s, p95=p95) for s in range(seconds) for op in (TOTAL, IMG_OP)
                ]
            }
        )
    store.finish_run(run_id, "pass", {"status": "pass", "reason": "no gate failed"}, None)
    return run_id


def old_store_run(store: ResultsStore, plog_home: Path) -> int:
    """A run in a store from before the live tables (schema < 5), with stats of an
    older shape (no p90, no error_rate)."""
    run_id = new_run(store, branch=IMG)
    store.save_series(run_id, [point(HOSTILE_OP, 1_700_000_000 + s) for s in range(5)])
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO operation_stats (run_id, operation, data) VALUES (?,?,?)",
            (
                run_id,
                HOSTILE_OP,
                f'{{"operation": "{HOSTILE_OP}", "count": 5, "failures": 0, "p95": 3.5}}',
            ),
        )
        for table in ("live_points", "run_progress", "run_documents"):
            conn.execute(f"DROP TABLE {table}")
    store.finish_run(run_id, "pass", None, None)
    return run_id


def no_markup(page: str) -> None:
    """No tag, attribute or link target came out of a stored string."""
    lowered = page.lower()
    assert lowered.count("<script") == 1 and OUR_SCRIPT in page
    assert "<img" not in lowered
    assert "onerror=" not in page.replace("onerror=alert(1)&gt;", "")
    targets = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert targets and all(t.startswith(("/", "?")) for t in targets), targets
    assert "style=" not in lowered  # the policy allows no inline style either


def shown(page: str, *values: str) -> None:
    text = html.unescape(page)
    for value in values:
        assert value in text, value
        assert str(escape(value)) in page, value


def get(app: Flask, path: str) -> str:
    res = app.test_client().get(path)
    assert res.status_code == 200, res.status_code
    assert res.content_type == "text/html; charset=utf-8"
    return res.get_data(as_text=True)


def test_a_finished_failed_run_shows_its_evidence_as_text(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    run_id = finished_failed_run(store)
    page = get(make_app(), f"/runs/{run_id}")
    no_markup(page)
    shown(page, f"/srv/{SCRIPT}", f"{JS_LINK}{IMG}", HOSTILE_OP, IMG_OP, FAILED_GATE,
          f"500 {SCRIPT}", f"slow {IMG}", f"{JS_LINK} {SCRIPT}", f"cpu {SCRIPT}")  # fmt: skip
    assert 'data-status="fail"' in page and "Run #" in page
    # The failed gate's row is marked and links to its operation's p95 chart.
    rows = re.findall(
        r'<tr class="gate ([^"]*)"[^>]*>\s*<td><a class="gate-link" href="([^"]*)"', page
    )
    assert [r[0] for r in rows] == ["gate-failed gate-decisive", "gate-passed", "gate-no-verdict"]
    link = html.unescape(rows[0][1])
    parts = urlsplit(link)
    assert parts.fragment == "chart-p95" and not parts.path
    assert parse_qs(parts.query) == {"op": [HOSTILE_OP], "metric": ["p95"]}
    assert parse_qs(urlsplit(html.unescape(rows[1][1])).query)["metric"] == ["error_rate"]
    assert 'id="chart-p95"' in page and 'id="chart-error_rate"' in page and 'id="chart-rps"' in page
    # Values in the gate's own units: ms, percent, a relative change.
    assert "350.0 ms" in page and "2.00%" in page and "+2.5%" in page
    # The gate's data attributes (the script draws its line from them) are escaped too.
    assert f'data-gate="{escape(FAILED_GATE)}"' in page
    assert f'data-operation="{escape(HOSTILE_OP)}"' in page
    # Every operation can be chosen, its name as text.
    assert f'<option value="{escape(IMG_OP)}">{escape(IMG_OP)}</option>' in page
    # Stats: the whole run first, then the most failing, then the slowest.
    stats_rows = re.findall(r'<td><a href="\?op=([^"#]*)#chart-rps">', page)
    assert [parse_qs(f"op={q}")["op"][0] for q in stats_rows] == [
        TOTAL,
        IMG_OP,
        HOSTILE_OP,
        PLAIN_OP,
    ]
    # The comparison row, benchstat-like; an infinite bound shows as such.
    assert "200.0 ms" in page and "+75.0%" in page and "[+60.0%, ∞]" in page
    assert "regression" in page and "breaking" in page
    assert "<progress" not in page  # finished: no progress bar
    # The reason beside the error status: the failed exchange as text.
    assert '<pre class="exchange">' in page
    shown(page, f"POST http://127.0.0.1:1/{IMG}", f"boom {IMG}", "→ 500 (3.5 ms)")


def test_a_running_run_shows_its_stage_and_progress(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    run_id = running_run(store)
    page = get(make_app(), f"/runs/{run_id}")
    no_markup(page)
    shown(page, SCRIPT, f"Loading 2 operations for 30 s {SCRIPT}")
    assert 'data-status="running"' in page
    assert re.search(r'<progress id="progress-bar" max="30.0" value="5.0"></progress>', page)
    assert '<li data-stage="measure" class="stage-current">' in page
    assert '<li data-stage="record" class="stage-done">' in page
    assert "The gates are judged when the load ends." in page
    assert "running…" in page


def test_an_interleaved_run_and_its_hostile_operation(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    run_id = interleaved_run(store)
    app = make_app()
    page = get(app, f"/runs/{run_id}")
    no_markup(page)
    shown(page, IMG)
    assert 'data-kind="interleaved"' in page and "interleaved · smoke" in page
    assert f'<option value="{escape(IMG_OP)}">' in page
    # The page's script gets base and head seconds from the points API.
    data = (
        app.test_client().get(f"/api/runs/{run_id}/points", query_string={"op": IMG_OP}).get_json()
    )
    assert {(p[0], p[1]) for p in data["points"]} >= {("base", IMG_OP), ("head", TOTAL)}


def test_a_run_of_an_old_store_renders(
    store: ResultsStore, plog_home: Path, make_app: Callable[..., Flask]
) -> None:
    run_id = old_store_run(store, plog_home)
    page = get(make_app(), f"/runs/{run_id}")
    no_markup(page)
    shown(page, HOSTILE_OP, IMG)
    assert "No verdict recorded." in page and "No gate outcomes recorded." in page
    assert "3.5 ms" in page  # its p95; the missing p90 shows as a dash
    assert "<progress" not in page


def test_a_missing_run_is_404(store: ResultsStore, make_app: Callable[..., Flask]) -> None:
    res = make_app().test_client().get("/runs/424242")
    assert res.status_code == 404
    assert "no run #424242" in res.get_data(as_text=True)
    assert "'unsafe-inline'" not in res.headers["Content-Security-Policy"]
