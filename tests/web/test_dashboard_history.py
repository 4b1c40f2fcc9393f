"""History (issue 18, item 4): per operation and metric, runs oldest first as an SVG
chart with the change points marked, over a real SQLite store and the real app."""

from __future__ import annotations

import html
import math
import re
import threading
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from flask import Flask
from markupsafe import escape
from waitress.server import create_server

from plog_ci.results import OperationStats
from plog_ci.store.sqlite import ResultsStore

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PETS, PET = "GET /pets", "GET /pets/{petId}"


def stats(op: str, p95: float, count: int = 200) -> OperationStats:
    return OperationStats(
        op, count, 0, count / 1.5, 1.0, p95 / 2, p95 / 2, p95 * 0.9, p95, p95 * 1.2, p95 * 2
    )


def stored_run(
    store: ResultsStore,
    sha: str,
    p95: dict[str, float],
    *,
    repo: str = "/srv/shop",
    branch: str | None = "main",
    status: str = "pass",
) -> int:
    """A finished run with per-operation statistics, as the pipeline stores it."""
    run_id = store.start_run(
        repo=repo,
        commit_sha=sha,
        parent=None,
        base_sha=None,
        branch=branch,
        profile="load",
        config_hash="c",
        spec_hash="s",
        environment={"cpus": 2},
    )
    store.save_stats(run_id, "script", {op: stats(op, v) for op, v in p95.items()})
    store.finish_run(run_id, status, {"status": status}, None)
    return run_id


def step_history(store: ResultsStore) -> list[int]:
    """16 runs on main: GET /pets +30% from the 9th on, GET /pets/{petId} flat."""
    rng = np.random.default_rng(7)
    ids = []
    for i in range(16):
        level = 20.0 if i < 8 else 26.0
        noise = [math.exp(rng.normal(0, 0.02)) for _ in range(2)]
        ids.append(stored_run(store, f"{i:040x}", {PETS: level * noise[0], PET: 40.0 * noise[1]}))
    return ids


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def no_raw_markup(page: str) -> None:
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "onerror=" not in page.replace("onerror=alert(1)&gt;", "")
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith(("/", "?")) for h in hrefs), hrefs


def test_a_step_change_is_one_change_point_at_the_right_run(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    ids = step_history(store)
    stored_run(store, "9" * 40, {PETS: 100.0}, branch="feature")  # another branch
    client = make_app().test_client()
    res = client.get("/history", query_string={"branch": "main", "operation": PETS})
    assert res.status_code == 200
    page = res.get_data(as_text=True)
    [svg] = svgs(page)
    # Every run is a point linking to its run page, oldest first.
    assert re.findall(r'<a href="/runs/(\d+)"><circle', svg) == [str(i) for i in ids]
    change = r'<a href="/runs/(\d+)"><circle class="chart-point chart-point-change"'
    marked = re.findall(change, svg)
    assert marked == [str(ids[8])]
    assert svg.count('<g class="chart-change">') == 1
    label = re.search(r'<g class="chart-change">.*?<text [^>]*>([^<]*)</text>', svg, flags=re.S)
    assert label is not None and label[1].startswith("+") and label[1].endswith("%")
    assert 25 < float(label[1][1:-1]) < 35, label[1]  # +30% by construction, with noise
    # The table says the same, and the change point links to the compare view.
    rows = re.findall(r'<tr class="history-change-row">\s*<td><a href="/runs/(\d+)">', page)
    assert rows == [str(ids[8])]
    assert f'href="/compare?a={ids[7]}&amp;b={ids[8]}"' in page
    assert "feature" not in svg  # branch=main: the other branch's run is not in the series
    # The flat operation has no change point.
    flat = client.get("/history", query_string={"branch": "main", "operation": PET})
    [flat_svg] = svgs(flat.get_data(as_text=True))
    assert "chart-change" not in flat_svg and "chart-point-change" not in flat_svg
    # JSON: plog history's shape, plus the choices.
    data = client.get("/api/history", query_string={"branch": "main"}).get_json()
    assert data["repo"] == "/srv/shop" and data["metric"] == "p95"
    assert data["operations"] == [PETS, PET] and data["branches"] == ["feature", "main"]
    by_op = {s["operation"]: s for s in data["series"]}
    assert [p["run_id"] for p in by_op[PETS]["points"]] == ids
    assert [c["run_id"] for c in by_op[PETS]["change_points"]] == [ids[8]]
    assert by_op[PET]["change_points"] == []


def test_all_operations_and_another_metric(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    ids = step_history(store)
    client = make_app().test_client()
    page = client.get("/history").get_data(as_text=True)  # the only repository, any branch
    assert len(svgs(page)) == 2 and page.count("<h2>") == 2
    # Several operations: no tables, each links to its own page, which has one.
    assert '<table class="history">' not in page
    assert 'href="?operation=GET+%2Fpets&amp;metric=p95"' in page
    single = client.get("/history?operation=GET+%2Fpets&metric=p95").get_data(as_text=True)
    assert single.count('<table class="history">') == 1
    data = client.get("/api/history?metric=p50").get_json()
    assert data["metric"] == "p50"
    pets = next(s for s in data["series"] if s["operation"] == PETS)
    assert pets["points"][0]["value"] == pytest.approx(stats(PETS, 20.0).p50, rel=0.1)
    assert [c["run_id"] for c in pets["change_points"]] == [ids[8]]
    # limit: the newest runs, still oldest first.
    data = client.get("/api/history?limit=5&operation=GET /pets").get_json()
    assert [p["run_id"] for p in data["series"][0]["points"]] == ids[-5:]


def test_hostile_operation_and_branch_names_are_text_in_html_and_svg(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    for i in range(3):
        stored_run(store, f"{i:040x}", {SCRIPT: 10.0 + i, IMG: 5.0}, branch=f"{IMG}{SCRIPT}")
    client = make_app().test_client()
    for query in ({}, {"operation": SCRIPT, "branch": f"{IMG}{SCRIPT}"}, {"operation": IMG}):
        res = client.get("/history", query_string=query)
        assert res.status_code == 200
        page = res.get_data(as_text=True)
        no_raw_markup(page)
        found = svgs(page)
        assert found
        for svg in found:
            no_raw_markup(svg)
            assert str(escape(f"{IMG}{SCRIPT}")) in svg  # the branch, in each point's title
        assert any(str(escape(SCRIPT)) in svg for svg in found)
        text = html.unescape(page)
        assert f"{IMG}{SCRIPT}" in text
    # An operation nobody measured is text too, and no chart.
    res = client.get("/history", query_string={"operation": f"GET /{SCRIPT}"})
    page = res.get_data(as_text=True)
    assert res.status_code == 200 and not svgs(page) and "No finished runs" in page
    no_raw_markup(page)
    data = client.get("/api/history").get_json()
    assert {s["operation"] for s in data["series"]} == {SCRIPT, IMG}


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"metric": "p42"}, "'metric' must be one of p50"),
        ({"limit": "0"}, "'limit' must be a whole number 1..500"),
        ({"limit": "501"}, "'limit' must be a whole number 1..500"),
        ({"limit": "ten"}, "'limit' must be a whole number 1..500"),
        ({"repo": f"/srv/{SCRIPT}"}, "holds no runs of repository"),
    ],
)
def test_a_bad_query_is_a_400_that_says_why(
    store: ResultsStore, make_app: Callable[..., Flask], query: dict[str, str], needle: str
) -> None:
    stored_run(store, "a" * 40, {PETS: 10.0})
    client = make_app().test_client()
    res = client.get("/history", query_string=query)
    assert res.status_code == 400 and res.content_type.startswith("text/html")
    page = res.get_data(as_text=True)
    assert html.escape(needle, quote=True) in page or needle in html.unescape(page)
    no_raw_markup(page)
    api = client.get("/api/history", query_string=query)
    assert api.status_code == 400 and needle in api.get_json()["error"]


def test_several_repositories_ask_for_one(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    client = make_app().test_client()
    empty = client.get("/history")  # no store yet: an empty page, not an error
    assert empty.status_code == 200 and "No finished runs" in empty.get_data(as_text=True)
    stored_run(store, "a" * 40, {PETS: 10.0}, repo="/srv/a")
    stored_run(store, "b" * 40, {PETS: 20.0}, repo="/srv/b")
    page = client.get("/history").get_data(as_text=True)
    assert "choose one" in page and not svgs(page)
    res = client.get("/api/history")
    assert res.status_code == 400 and "'repo' is needed" in res.get_json()["error"]
    data = client.get("/api/history?repo=/srv/b").get_json()
    assert [p["value"] for p in data["series"][0]["points"]] == [20.0]


@pytest.fixture
def waitress_url(make_app: Callable[..., Flask]) -> Iterator[str]:
    server = create_server(make_app(), host="127.0.0.1", port=0, threads=4, ident="plog")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def test_history_and_compare_over_waitress(store: ResultsStore, waitress_url: str) -> None:
    ids = step_history(store)
    res = httpx.get(f"{waitress_url}/history", params={"operation": PETS}, timeout=30)
    assert res.status_code == 200 and res.headers["server"] == "plog"
    assert "'unsafe-inline'" not in res.headers["content-security-policy"]
    assert " style=" not in res.text and "<script" not in res.text
    assert res.text.count("chart-point-change") == 1
    cmp = httpx.get(f"{waitress_url}/compare", params={"a": ids[7], "b": ids[8]}, timeout=30)
    assert cmp.status_code == 200 and " style=" not in cmp.text
    assert f'href="/runs/{ids[7]}"' in cmp.text and f'href="/runs/{ids[8]}"' in cmp.text
    missing = httpx.get(f"{waitress_url}/api/compare", params={"a": 1, "b": 999}, timeout=30)
    assert missing.status_code == 404 and "no run #999" in missing.json()["error"]
