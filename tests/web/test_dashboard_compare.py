"""The compare view (issue 18, item 4): run b against run a as ``plog compare A B``
compares them, over a real SQLite store and the real app."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from flask import Flask
from markupsafe import escape

from plog_ci.store.sqlite import ResultsStore
from tests.web.test_dashboard_history import IMG, PET, PETS, SCRIPT, no_raw_markup, stats


def run_with_blocks(
    store: ResultsStore,
    sha: str,
    p95: dict[str, float],
    *,
    script: str = "script",
    environment: dict[str, int] | None = None,
    blocks: int = 10,
) -> int:
    """A finished run with ``blocks`` head blocks; every block's p95 is ``p95`` times the
    same small jitter (1.00, 1.01, 1.02, ...), so two runs differ by exactly their ratio."""
    run_id = store.start_run(
        repo="/srv/shop",
        commit_sha=sha,
        parent=None,
        base_sha=None,
        branch="main",
        profile="load",
        config_hash="c",
        spec_hash="s",
        environment=environment if environment is not None else {"cpus": 2},
    )
    for i in range(blocks):
        jitter = 1 + (i % 3) * 0.01
        store.save_block(run_id, "head", i, {op: stats(op, v * jitter) for op, v in p95.items()})
    store.save_stats(run_id, script, {op: stats(op, v) for op, v in p95.items()})
    store.finish_run(run_id, "pass", {"status": "pass"}, None)
    return run_id


def test_a_known_20_percent_p95_regression_is_shown(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    a = run_with_blocks(store, "a" * 40, {PETS: 20.0, PET: 40.0})
    b = run_with_blocks(store, "b" * 40, {PETS: 24.0, PET: 40.0})
    client = make_app().test_client()
    data = client.get("/api/compare", query_string={"a": a, "b": b}).get_json()
    assert data["old"]["run_id"] == a and data["new"]["run_id"] == b
    assert data["old"]["samples"] == "blocks:head" and data["differences"] == []
    rows = {(c["operation"], c["metric"]): c for c in data["comparisons"]}
    assert rows[PETS, "p95"]["delta_pct"] == pytest.approx(20.0, abs=0.05)
    assert rows[PETS, "p95"]["verdict"] == "regression"
    assert rows[PET, "p95"]["verdict"] == "unchanged"
    res = client.get("/compare", query_string={"a": a, "b": b})
    assert res.status_code == 200
    page = res.get_data(as_text=True)
    assert f'<a href="/runs/{a}">#{a}</a>' in page and f'<a href="/runs/{b}">#{b}</a>' in page
    table = r'<h2>([^<]*)</h2>\s*<table class="compare">(.*?)</table>'
    tables = dict(re.findall(table, page, re.S))
    assert set(tables) == {PETS, str(escape(PET))}
    row = r'<tr class="verdict-(\w+)">\s*<td>p95 latency</td>(.*?)</tr>'
    p95 = re.search(row, tables[PETS], re.S)
    assert p95 is not None and p95[1] == "regression"
    cells = re.findall(r'<td class="num">([^<]*)</td>', p95[2])
    assert cells[:3] == ["20.2 ms", "24.2 ms", "+20.0%"]  # block medians (jitter 1.01)
    flat = re.search(r'<tr class="verdict-(\w+)">\s*<td>p95 latency</td>', tables[str(escape(PET))])
    assert flat is not None and flat[1] == "unchanged"
    # Swapped, the same change reads as an improvement.
    back = client.get("/api/compare", query_string={"a": b, "b": a}).get_json()
    pets = next(c for c in back["comparisons"] if c["operation"] == PETS and c["metric"] == "p95")
    assert pets["verdict"] == "improvement" and pets["delta_pct"] < -15


def test_runs_that_cannot_be_compared_say_why(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    a = run_with_blocks(store, "a" * 40, {PETS: 20.0})
    other = run_with_blocks(
        store, "b" * 40, {PETS: 20.0}, script="another script", environment={"cpus": 8}
    )
    summary_only = run_with_blocks(store, "c" * 40, {PETS: 20.0}, blocks=0)
    client = make_app().test_client()
    page = client.get(f"/compare?a={a}&b={other}").get_data(as_text=True)
    assert "may not be comparable" in page
    assert "different generated k6 script (script hash)" in page
    assert "different environment fingerprint" in page
    data = client.get(f"/api/compare?a={a}&b={summary_only}").get_json()
    assert data["new"]["samples"] == "none"
    assert {c["verdict"] for c in data["comparisons"]} == {"no-verdict"}
    assert data["no_verdict"].startswith("no verdict for 3 of 3 comparisons")
    assert all("summary only" in c["reason"] for c in data["comparisons"])
    page = client.get(f"/compare?a={a}&b={summary_only}").get_data(as_text=True)
    assert "summary only: no blocks or per-second series stored" in page


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ("", 400, "'a' (the base run's id) is needed"),
        ("?a=1", 400, "'b' (the head run's id) is needed"),
        ("?a=one&b=2", 400, "'a' must be a run id"),
        ("?a=1&b=-2", 400, "'b' must be a run id"),
        ("?a=1&b=999", 404, "no run #999"),
        ("?a=998&b=1", 404, "no run #998"),
    ],
)
def test_missing_or_unknown_runs(
    store: ResultsStore, make_app: Callable[..., Flask], query: str, status: int, needle: str
) -> None:
    run_with_blocks(store, "a" * 40, {PETS: 20.0})
    client = make_app().test_client()
    res = client.get(f"/compare{query}")
    assert res.status_code == status and needle in html.unescape(res.get_data(as_text=True))
    api = client.get(f"/api/compare{query}")
    assert api.status_code == status and needle in api.get_json()["error"]


def test_no_store_is_a_404(make_app: Callable[..., Flask]) -> None:
    res = make_app().test_client().get("/api/compare?a=1&b=2")
    assert res.status_code == 404 and "no results store yet" in res.get_json()["error"]


def test_hostile_operation_names_are_text(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    a = run_with_blocks(store, "a" * 40, {SCRIPT: 20.0, IMG: 10.0})
    b = run_with_blocks(store, "b" * 40, {SCRIPT: 30.0, IMG: 10.0})
    page = make_app().test_client().get(f"/compare?a={a}&b={b}").get_data(as_text=True)
    no_raw_markup(page)
    assert f"<h2>{escape(SCRIPT)}</h2>" in page and f"<h2>{escape(IMG)}</h2>" in page
