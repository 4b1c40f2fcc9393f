"""An exported run page (``plog export``) in real headless Chromium, offline.

The file is opened with ``file://`` in a context that is offline and whose route
aborts every request that is not for the file itself, and counts them: none may
be attempted. Served by a web server instead, its content-security policy must
keep a script from reaching even that server. The charts are drawn from the
data inside the file, the operation selector and the tables' links switch the
operation, and no hostile operation name becomes markup or runs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from plog_ci.store.sqlite import ResultsStore
from plog_ci.web.dashboard.export import MAX_SERIES_OPERATIONS, export_run
from tests.web.browser.conftest import TIMEOUT_MS, Tab, artifacts_dir
from tests.web.test_export import BREAKOUT_OP, COMMENT_OP, TEMPLATE_OP
from tests.web.test_run_template import (
    HOSTILE_OP,
    IMG_OP,
    add_seconds,
    finished_failed_run,
    interleaved_run,
    new_run,
    stats,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Request, Route

CHARTS = ("rps", "latency", "error_rate")


def write_export(store: ResultsStore, run_id: int, folder: Path) -> Path:
    exported = export_run(store.path, run_id)
    assert exported is not None
    path = folder / f"plog-run-{run_id}.html"
    path.write_text(exported.html, encoding="utf-8")
    return path


class Offline:
    """A tab in an offline context that aborts (and keeps) every request but the file's."""

    def __init__(self, browser: Browser, name: str) -> None:
        self.context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.aborted: list[str] = []
        self.requested: list[str] = []
        self.context.route("**/*", self._route)
        page = self.context.new_page()
        page.on("request", self._request)
        self.tab = Tab(page=page, shots=artifacts_dir(), test=name)
        page.on("dialog", self.tab._dialog)
        page.on("console", self.tab._console)
        page.on("pageerror", self.tab._page_error)

    def _route(self, route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.aborted.append(route.request.url)
            route.abort()

    def _request(self, request: Request) -> None:
        self.requested.append(request.url)

    def open(self, path: Path) -> Tab:
        self.tab.page.goto(path.as_uri())
        for chart in CHARTS:
            wait_points(self.tab, chart, 1)
        return self.tab

    def network(self, path: Path) -> list[str]:
        """What the page asked for besides its own file (data: modules are no request)."""
        return self.aborted + [u for u in self.requested if u != path.as_uri()]


def wait_points(tab: Tab, chart: str, at_least: int) -> None:
    tab.page.wait_for_function(
        "([c, n]) => Number(document.getElementById('chart-' + c).dataset.points) >= n",
        arg=[chart, at_least],
    )


def points(tab: Tab, chart: str) -> int:
    return int(tab.page.get_attribute(f"#chart-{chart}", "data-points") or 0)


def shown_op(tab: Tab) -> str:
    return str(tab.page.text_content("#chart-rps .chart-op") or "")


def no_markup(tab: Tab) -> None:
    page = tab.page
    assert page.locator("img").count() == 0
    assert page.locator("[onerror]").count() == 0
    types = page.eval_on_selector_all("script", "els => els.map(e => e.type)")
    assert types == ["importmap", "module", "application/json"]
    assert page.eval_on_selector_all("[src]", "els => els.length") == 0


@pytest.fixture
def offline(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Offline]:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    opened = Offline(browser, name)
    yield opened
    opened.context.close()


def test_the_exported_file_draws_offline_and_switches_operation(
    offline: Offline, store: ResultsStore, tmp_path: Path
) -> None:
    path = write_export(store, finished_failed_run(store), tmp_path)
    tab = offline.open(path)
    assert [points(tab, c) for c in CHARTS] == [30, 30, 30]
    assert shown_op(tab) == "· whole run"
    tab.snap("whole-run")
    # The selector: another operation's seconds, from the file.
    tab.page.select_option("#op-select", IMG_OP)
    tab.page.wait_for_function(
        "op => document.querySelector('#chart-rps .chart-op').textContent === '· ' + op",
        arg=IMG_OP,
    )
    assert [points(tab, c) for c in CHARTS] == [30, 30, 30]
    assert tab.page.is_hidden("#chart-note")
    # A failed gate's link: its operation, its chart focused, the page at its anchor.
    tab.page.click("tr.gate-failed a.gate-link")
    tab.page.wait_for_function(
        "op => document.getElementById('op-select').value === op", arg=HOSTILE_OP
    )
    assert shown_op(tab) == f"· {HOSTILE_OP}"
    assert "chart-focus" in (tab.page.get_attribute("#chart-latency", "class") or "")
    assert tab.page.url == f"{path.as_uri()}#chart-p95"
    lines = tab.page.locator("#chart-latency .chart-gates li").all_text_contents()
    assert lines == [f"p95 < 300ms [{HOSTILE_OP}]: failed"]
    # The operations table's link to the whole run.
    tab.page.click("#stats a[data-op='*']")
    tab.page.wait_for_function("document.getElementById('op-select').value === '*'")
    assert shown_op(tab) == "· whole run"
    tab.snap("offline")
    no_markup(tab)
    assert offline.network(path) == []
    assert tab.page.text_content("#chart-state") == ""
    tab.assert_clean()


def test_hostile_names_stay_text_and_omitted_operations_say_so(
    offline: Offline, store: ResultsStore, tmp_path: Path
) -> None:
    run_id = new_run(store)
    hostile = [BREAKOUT_OP, COMMENT_OP, TEMPLATE_OP]
    # More operations than the export keeps the seconds of; the hostile ones the slowest.
    ops = hostile + [f"GET /items/{i:02d}" for i in range(MAX_SERIES_OPERATIONS)]
    add_seconds(store, run_id, ops, 1_700_000_000, 5)
    store.save_stats(
        run_id, "h" * 64, {op: stats(op, p95=900.0 - i, failures=0) for i, op in enumerate(ops)}
    )
    store.finish_run(run_id, "pass", {"status": "pass", "reason": BREAKOUT_OP}, None)
    path = write_export(store, run_id, tmp_path)
    tab = offline.open(path)
    no_markup(tab)
    options = tab.page.eval_on_selector_all("#op-select option", "os => os.map(o => o.value)")
    assert set(hostile) <= set(options)
    assert BREAKOUT_OP in (tab.page.text_content("#verdict-line") or "")
    tab.page.select_option("#op-select", BREAKOUT_OP)
    tab.page.wait_for_function(
        "op => document.querySelector('#chart-rps .chart-op').textContent === '· ' + op",
        arg=BREAKOUT_OP,
    )
    assert points(tab, "rps") == 5
    # The fastest operation's seconds were left out: the page says so, with its summary.
    left_out = ops[-1]
    label = tab.page.eval_on_selector(
        "#op-select", "(s, v) => [...s.options].find(o => o.value === v).textContent", left_out
    )
    assert label == f"{left_out} (not in the export)"
    tab.page.select_option("#op-select", left_out)
    tab.page.wait_for_function("!document.getElementById('chart-note').hidden")
    note = tab.page.text_content("#chart-note") or ""
    assert note.startswith("Not included in the export") and "600 requests" in note
    assert "p95 " in note and points(tab, "rps") == 0
    tab.snap("omitted")
    assert offline.network(path) == []
    tab.assert_clean()


def test_an_interleaved_run_draws_both_sides_offline(
    offline: Offline, store: ResultsStore, tmp_path: Path
) -> None:
    path = write_export(store, interleaved_run(store), tmp_path)
    tab = offline.open(path)
    assert tab.page.get_attribute("#chart-rps", "data-sides") == "base,head"
    assert points(tab, "rps") == 10
    assert offline.network(path) == []
    tab.assert_clean()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_served_by_a_web_server_its_policy_stops_every_request(
    browser: Browser, store: ResultsStore, tmp_path: Path
) -> None:
    path = write_export(store, finished_failed_run(store), tmp_path)
    hits: list[str] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:
            hits.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        tab = Tab(page=page, shots=artifacts_dir(), test="served_export")
        page.on("console", tab._console)
        page.on("pageerror", tab._page_error)
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        page.goto(f"{origin}/{path.name}")
        wait_points(tab, "rps", 30)
        assert tab.console_errors == [] and tab.page_errors == []
        # A script (say, one that got in) cannot reach even the server it came from.
        reached = page.evaluate(
            "u => fetch(u).then(() => 'reached', e => 'refused: ' + e.name)", f"{origin}/probe"
        )
        assert reached == "refused: TypeError"
        assert [v for v in tab.csp_violations() if "connect-src" in v or "default-src" in v]
        assert [h for h in hits if h != "/favicon.ico"] == [f"/{path.name}"]
    finally:
        context.close()
        server.shutdown()
        server.server_close()
