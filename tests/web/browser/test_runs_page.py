"""The runs list in real headless Chromium (issue 18: browser tests, items 1, 6, 7).

A real SQLite store and queue, the real app over waitress, the Debian chromium.
Hostile strings must show as text and never run: a dialog, a console error (the
content-security policy reports a refused inline script or handler there) or an
uncaught exception fails the test.
"""

from __future__ import annotations

from pathlib import Path

from plog_ci.queue import JobSpec, Queue
from plog_ci.store.runs_query import DEFAULT_PAGE
from plog_ci.store.sqlite import ResultsStore
from tests.web.browser.conftest import Tab
from tests.web.conftest import add_run
from tests.web.test_dashboard_runs import IMG, JS_BRANCH, SCRIPT, SHA, hostile_store

UPLOT = "/static/vendor/uplot/uPlot.esm.js"
RUN_ROWS = "table.runs tbody tr"


def run_ids(tab: Tab) -> list[int]:
    """The run ids in the runs table, top to bottom."""
    cells = tab.page.locator(f"{RUN_ROWS} td:first-child").all_inner_texts()
    return [int(c) for c in cells]


def test_rows_show_and_hostile_strings_are_text_that_never_runs(
    tab: Tab, store: ResultsStore, plog_home: Path
) -> None:
    hostile = hostile_store(store)
    mixed = add_run(store, branch=f"{IMG}{SCRIPT}", status="error")
    plain = add_run(store, repo="/srv/shop", branch="main", status="pass")
    Queue(plog_home).enqueue(JobSpec(repo=f"/q/{IMG}", head=SHA, branch=SCRIPT))
    page = tab.page
    response = page.goto("/")
    assert response is not None and response.ok
    assert run_ids(tab) == [plain, mixed, hostile]
    assert page.locator("h2", has_text="3 runs").count() == 1
    tab.snap("runs")
    # Shown, character for character, as text.
    runs_text = page.locator("table.runs").inner_text()
    for value in (f"/srv/{SCRIPT}", JS_BRANCH, f"{IMG}{SCRIPT}", IMG):
        assert value in runs_text
    jobs_text = page.locator("table.jobs").inner_text()
    assert f"/q/{IMG}" in jobs_text and SCRIPT in jobs_text
    # ... and never markup: no element or handler came out of a stored string.
    assert page.locator("img").count() == 0
    assert page.locator("[onerror]").count() == 0
    assert page.eval_on_selector_all("script", "els => els.filter(e => !e.src).length") == 0
    protocols = page.eval_on_selector_all("a", "as => as.map(a => a.protocol)")
    assert protocols and set(protocols) == {"http:"}
    # The javascript: branch is a filter link: following it filters, runs nothing.
    page.get_by_role("link", name=JS_BRANCH).click()
    page.wait_for_url("**/?*branch=javascript*")
    assert run_ids(tab) == [hostile]
    assert page.locator("input[name=branch]").input_value() == JS_BRANCH
    tab.snap("hostile-branch")
    assert tab.csp_violations() == []
    tab.assert_clean()


def test_the_watch_sees_a_blocked_inline_handler_and_a_dialog(tab: Tab) -> None:
    """The checks above can fail: injected inline markup is refused (and reported),
    and a dialog opened by script is recorded."""
    tab.page.goto("/")
    tab.page.evaluate(
        """() => new Promise(done => {
            const img = document.createElement('div');
            img.innerHTML = '<img src="/nowhere" onerror="alert(1)">';
            document.body.append(img);
            img.firstChild.addEventListener('error', () => setTimeout(done, 50));
        })"""
    )
    violations = tab.csp_violations()
    assert violations and "inline event handler" in violations[0]
    assert tab.dialogs == []  # the CSP kept the handler from running
    tab.page.evaluate("() => alert('from a test')")  # evaluate is not subject to the CSP
    assert tab.dialogs == ["alert: from a test"]


def test_filter_by_status_with_the_form(tab: Tab, store: ResultsStore) -> None:
    passed = [add_run(store, status="pass") for _ in range(3)]
    failed = [add_run(store, branch="dev", status="fail") for _ in range(2)]
    page = tab.page
    page.goto("/")
    assert run_ids(tab) == sorted(passed + failed, reverse=True)
    page.locator("select[name=status]").select_option("fail")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/?*status=fail*")
    assert run_ids(tab) == sorted(failed, reverse=True)
    assert page.locator(f"{RUN_ROWS} .st").all_inner_texts() == ["fail", "fail"]
    assert page.locator("select[name=status]").input_value() == "fail"
    assert page.locator("h2", has_text="2 runs").count() == 1
    tab.snap("filtered")
    page.get_by_role("link", name="clear").click()
    page.wait_for_url(lambda url: "status=" not in url)
    assert len(run_ids(tab)) == 5
    tab.assert_clean()


def test_the_older_link_goes_to_the_next_page_and_back(tab: Tab, store: ResultsStore) -> None:
    made = sorted((add_run(store) for _ in range(DEFAULT_PAGE + 5)), reverse=True)
    page = tab.page
    page.goto("/")
    assert run_ids(tab) == made[:DEFAULT_PAGE]
    assert page.get_by_role("link", name="« newest").count() == 0
    page.get_by_role("link", name="older »").click()
    page.wait_for_url(f"**/?before={made[DEFAULT_PAGE - 1]}")
    assert run_ids(tab) == made[DEFAULT_PAGE:]
    assert page.get_by_role("link", name="older »").count() == 0
    tab.snap("older")
    page.get_by_role("link", name="« newest").click()
    page.wait_for_url(lambda url: "before=" not in url)
    assert run_ids(tab) == made[:DEFAULT_PAGE]
    tab.assert_clean()


def test_the_vendored_uplot_imports_and_draws_under_the_csp(tab: Tab) -> None:
    page = tab.page
    page.goto("/")
    assert page.evaluate(f"import('{UPLOT}').then(m => typeof m.default)") == "function"
    # Its stylesheet (a <link>, allowed by default-src 'self') and a chart drawn with
    # it: uPlot sets styles through the CSSOM, which the policy does not restrict.
    drawn = page.evaluate(
        """async (url) => {
            const link = document.createElement('link');
            link.rel = 'stylesheet';
            link.href = '/static/vendor/uplot/uPlot.min.css';
            const loaded = new Promise((ok, bad) => { link.onload = ok; link.onerror = bad; });
            document.head.append(link);
            await loaded;
            const uPlot = (await import(url)).default;
            const box = document.createElement('div');
            document.querySelector('main').append(box);
            const chart = new uPlot(
                {width: 600, height: 240, series: [{}, {label: 'rps', stroke: 'blue'}]},
                [[1700000000, 1700000001, 1700000002], [10, 30, 20]], box);
            return {
                points: chart.data[0].length,
                canvas: box.querySelectorAll('canvas').length,
                rules: link.sheet.cssRules.length,
                display: getComputedStyle(box.querySelector('.u-legend')).display,
            };
        }""",
        UPLOT,
    )
    assert drawn["points"] == 3 and drawn["canvas"] == 1 and drawn["rules"] > 10
    # A <table> legend shows as a block only when uPlot.min.css applied (.u-inline).
    assert drawn["display"] == "block"
    tab.snap("uplot")
    assert tab.csp_violations() == []
    tab.assert_clean()
