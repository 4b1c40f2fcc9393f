"""A run's page in real headless Chromium (issue 18: items 2, 3, 6, 7 and the browser
tests): the real app over waitress, a real results store that a thread keeps writing
as ``plog run`` does, the vendored uPlot, the content-security policy of every page.

A dialog, a console error (a CSP refusal is reported there) or an uncaught exception
fails each test (``Tab.assert_clean``); each page is saved as a screenshot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plog_ci.store.live import ProgressWriter
from plog_ci.store.sqlite import ResultsStore, open_store
from tests.web.browser.conftest import Tab
from tests.web.test_run_template import (
    FAILED_GATE,
    HOSTILE_OP,
    IMG_OP,
    PLAIN_OP,
    add_seconds,
    finished_failed_run,
    interleaved_run,
    old_store_run,
    running_run,
)

GROW_S = 3.0


def points(tab: Tab, chart: str) -> int:
    return int(tab.page.get_attribute(f"#chart-{chart}", "data-points") or 0)


def wait_points(tab: Tab, chart: str, at_least: int) -> None:
    tab.page.wait_for_function(
        "([c, n]) => Number(document.getElementById('chart-' + c).dataset.points) >= n",
        arg=[chart, at_least],
    )


def no_injected_markup(tab: Tab) -> None:
    page = tab.page
    assert page.locator("img").count() == 0
    assert page.locator("[onerror]").count() == 0
    assert page.eval_on_selector_all("script", "els => els.filter(e => !e.src).length") == 0
    protocols = page.eval_on_selector_all("a", "as => as.map(a => a.protocol)")
    assert set(protocols) == {"http:"}
    assert tab.csp_violations() == []


class Feeder:
    """Writes one second of the run every ``every_s`` from its own store connection,
    as the worker does: the operations' seconds, the whole run's, the progress."""

    def __init__(self, home: Path, run_id: int, first: int, every_s: float = 0.25) -> None:
        self.home, self.run_id, self.next, self.every_s = home, run_id, first, every_s
        self.first = first
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        store = open_store(self.home)
        progress = ProgressWriter(store, self.run_id, min_interval_s=0.0)
        progress.stage("measure")
        progress.step("Loading 2 operations for 120 s", total=120.0)
        try:
            while not self.stop.wait(self.every_s):
                add_seconds(store, self.run_id, [PLAIN_OP, HOSTILE_OP], self.next, 1)
                self.next += 1
                # Seconds fed, not the clock's: a clock modulo 120 wrapped under the test.
                progress.advance_to(float(min(self.next - self.first, 120)))
        finally:
            store.close()


@pytest.fixture
def feeder(store: ResultsStore, plog_home: Path) -> Iterator[Feeder]:
    first = int(time.time()) - 5
    run_id = running_run(store, seconds=5, start=first)
    fed = Feeder(plog_home, run_id, first + 5)
    fed.thread.start()
    yield fed
    fed.stop.set()
    fed.thread.join(timeout=5)


def test_a_running_run_grows_live_then_reloads_finished(
    tab: Tab, feeder: Feeder, store: ResultsStore
) -> None:
    page = tab.page
    response = page.goto(f"/runs/{feeder.run_id}")
    assert response is not None and response.ok
    assert page.locator("#run-status").inner_text() == "running"
    wait_points(tab, "rps", 5)  # the history from the start, fetched first
    before = points(tab, "rps")
    started = page.evaluate("() => Number(document.getElementById('progress-bar').value)")
    page.wait_for_timeout(GROW_S * 1000)
    after = points(tab, "rps")
    # ~4 seconds written per second: at least a few must have reached the chart.
    assert after >= before + 4, (before, after)
    # The three charts in step, read in one go (the stream goes on between reads).
    in_step = """() => new Set(['rps', 'latency', 'error_rate'].map(
        c => document.getElementById('chart-' + c).dataset.points)).size === 1"""
    page.wait_for_function(in_step)
    assert page.evaluate("() => Number(document.getElementById('progress-bar').value)") > started
    assert page.locator("#progress-stage").inner_text() == "measure"
    assert page.locator("#chart-state").inner_text() == "live"
    tab.snap("running")
    # Another operation: its seconds from the start, then the stream carries it.
    page.select_option("#op-select", HOSTILE_OP)
    page.wait_for_function(
        "op => document.querySelector('#chart-latency .chart-op').textContent.includes(op)",
        arg=HOSTILE_OP,
    )
    wait_points(tab, "latency", after)
    grown = points(tab, "latency")
    wait_points(tab, "latency", grown + 2)
    assert "op=GET+%2Fpets%2F%3Cscript%3E" in page.url
    tab.snap("running-operation")
    # The run ends: the page reloads once and shows the finished run.
    feeder.stop.set()
    feeder.thread.join(timeout=5)
    with page.expect_navigation():
        store.finish_run(
            feeder.run_id, "pass", {"status": "pass", "reason": "all gates held"}, None
        )
    page.wait_for_load_state()
    assert page.locator("#run-status").inner_text() == "pass"
    assert page.locator("#run-progress").count() == 0
    assert "all gates held" in page.locator("#verdict-line").inner_text()
    wait_points(tab, "latency", grown + 2)  # ?op= kept: the operation's chart again
    assert page.locator("#op-select").input_value() == HOSTILE_OP
    tab.snap("finished")
    no_injected_markup(tab)
    tab.assert_clean()


def test_a_failed_gate_is_highlighted_and_opens_its_chart(tab: Tab, store: ResultsStore) -> None:
    run_id = finished_failed_run(store)
    page = tab.page
    page.goto(f"/runs/{run_id}")
    wait_points(tab, "rps", 30)
    failed = page.locator("table.gates tr.gate-failed")
    assert failed.count() == 1
    assert failed.locator("a.gate-link").inner_text() == FAILED_GATE
    highlight = failed.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
    passed = page.locator("table.gates tr.gate-passed td").first
    assert highlight == "rgb(255, 235, 233)"
    assert passed.evaluate("td => getComputedStyle(td).backgroundColor") != highlight
    assert page.locator("#op-select").input_value() == "*"
    tab.snap("failed")
    failed.locator("a.gate-link").click()
    page.wait_for_url("**metric=p95#chart-p95")
    assert page.locator("#op-select").input_value() == HOSTILE_OP
    wait_points(tab, "latency", 30)
    latency = page.locator("#chart-latency")
    assert "chart-focus" in (latency.get_attribute("class") or "")
    assert HOSTILE_OP in latency.locator(".chart-op").inner_text()
    # The gate as a line on that chart, with its status; the chart is in view.
    lines = latency.locator(".chart-gates li")
    assert lines.all_inner_texts() == [f"{FAILED_GATE}: failed"]
    assert lines.first.get_attribute("data-value") == "300"
    assert latency.locator("canvas").count() == 1
    assert page.evaluate(
        "() => { const r = document.getElementById('chart-latency').getBoundingClientRect();"
        " return r.top < innerHeight && r.bottom > 0; }"
    )
    tab.snap("failed-gate-chart")
    no_injected_markup(tab)
    tab.assert_clean()


def test_an_interleaved_run_draws_base_and_head_on_the_same_axes(
    tab: Tab, store: ResultsStore
) -> None:
    run_id = interleaved_run(store, seconds=10)
    page = tab.page
    page.goto(f"/runs/{run_id}")
    wait_points(tab, "rps", 10)
    assert page.get_attribute("#chart-rps", "data-sides") == "base,head"
    legend = page.locator("#chart-latency .u-legend .u-series").all_inner_texts()
    assert any("base p95" in t for t in legend) and any("head p95" in t for t in legend)
    page.select_option("#op-select", IMG_OP)
    page.wait_for_function(
        "op => document.querySelector('#chart-rps .chart-op').textContent.includes(op)", arg=IMG_OP
    )
    assert points(tab, "rps") == 10
    tab.snap("interleaved")
    no_injected_markup(tab)
    tab.assert_clean()


def test_a_run_of_an_old_store_says_why_the_whole_run_has_no_latency(
    tab: Tab, store: ResultsStore, plog_home: Path
) -> None:
    run_id = old_store_run(store, plog_home)
    page = tab.page
    page.goto(f"/runs/{run_id}")
    wait_points(tab, "rps", 5)  # the whole run's counts, summed from the operations
    assert page.locator("#chart-latency .chart-empty").is_visible()
    page.select_option("#op-select", HOSTILE_OP)
    page.wait_for_function("() => document.querySelector('#chart-latency .chart-empty').hidden")
    assert points(tab, "latency") == 5
    tab.snap("old-store")
    no_injected_markup(tab)
    tab.assert_clean()
