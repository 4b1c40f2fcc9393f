"""The runs list (issue 18, item 1): a real SQLite store and queue, the real app.

Hostile strings (item 6) go into the store and the queue the way a repository, a
spec or a service would put them there, and must come out as text.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask
from markupsafe import escape
from waitress.server import create_server

from plog_ci.queue import JobSpec, Queue
from plog_ci.store.sqlite import ResultsStore
from tests.web.conftest import add_run

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_BRANCH = "javascript:alert(document.cookie)"
SHA = "feedfacecafebeef0123456789abcdef01234567"


def hostile_store(store: ResultsStore) -> int:
    return add_run(
        store,
        repo=f"/srv/{SCRIPT}",
        branch=JS_BRANCH,
        status="fail",
        verdict={
            "status": "fail",
            "reason": IMG,
            "decided_by": [{"gate": "p95 < 1ms", "operation": f"GET /pets/{SCRIPT}"}],
        },
    )


def no_raw_markup(page: str) -> None:
    """No tag or attribute from a stored string made it into the page as markup."""
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "onerror=" not in page.replace("onerror=alert(1)&gt;", "")
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith(("/", "?")) for h in hrefs), hrefs


def test_hostile_strings_from_the_store_and_queue_are_text(
    store: ResultsStore, plog_home: Path, make_app: Callable[..., Flask]
) -> None:
    hostile_store(store)
    add_run(store, branch=f"{IMG}{SCRIPT}", status="error")
    Queue(plog_home).enqueue(JobSpec(repo=f"/q/{IMG}", head=SHA, branch=SCRIPT))
    client = make_app().test_client()
    page = client.get("/").get_data(as_text=True)
    no_raw_markup(page)
    text = html.unescape(page)
    for value in (SCRIPT, IMG, JS_BRANCH, f"/srv/{SCRIPT}", f"/q/{IMG}", f"{IMG}{SCRIPT}"):
        assert value in text  # shown, as text
    assert str(escape(SCRIPT)) in page and str(escape(IMG)) in page
    # The branch is a filter link's query value, never a link target of its own.
    assert 'href="javascript' not in page
    assert "branch=javascript%3Aalert%28document.cookie%29" in page
    # Filtered on the hostile values, the page still escapes them (in the form too).
    res = client.get("/", query_string={"branch": JS_BRANCH, "repo": f"/srv/{SCRIPT}"})
    body = res.get_data(as_text=True)
    assert res.status_code == 200 and "1 run<" in body
    no_raw_markup(body)
    assert f'value="{escape(JS_BRANCH)}"' in body
    # The JSON keeps the exact strings.
    data = client.get("/api/runs").get_json()
    assert data["runs"][0]["branch"] == f"{IMG}{SCRIPT}"
    assert data["runs"][1]["repo"] == f"/srv/{SCRIPT}"
    assert data["runs"][1]["branch"] == JS_BRANCH
    assert data["runs"][1]["verdict"] == f"{IMG} — decided by p95 < 1ms on GET /pets/{SCRIPT}"
    assert data["jobs"][0]["branch"] == SCRIPT


def test_a_bad_query_is_a_400_that_names_the_parameter(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    res = client.get("/", query_string={"before": SCRIPT})
    assert res.status_code == 400
    body = res.get_data(as_text=True)
    assert "query parameter &#39;before&#39; must be a whole number" in body
    no_raw_markup(body)
    res = client.get("/api/runs?limit=201")
    assert res.status_code == 400
    assert res.get_json() == {"error": "query parameter 'limit' must be a whole number 1..200"}
    assert client.get("/api/runs?before=99999999999999999999").status_code == 400


def test_newest_first_with_status_verdict_duration_branch_sha(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    first = add_run(store, branch="main", status="pass")
    second = add_run(store, branch="feature/x", sha="ab" * 20, status="fail", verdict=None)
    running = add_run(store, branch="main", finished=False)
    with store.transaction() as conn:  # a run of 75 s, as a clock would have made it
        conn.execute("UPDATE runs SET finished_at = started_at + 75 WHERE id = ?", (first,))
    data = make_app().test_client().get("/api/runs").get_json()
    runs = data["runs"]
    assert [r["id"] for r in runs] == [running, second, first]
    assert [r["status"] for r in runs] == ["running", "fail", "pass"]
    assert runs[2]["duration"] == "1 min 15 s" and runs[2]["duration_s"] == pytest.approx(75)
    assert runs[0]["finished_at"] is None and runs[0]["duration_s"] >= 0
    assert runs[1]["short_sha"] == "ababababab" and runs[1]["branch"] == "feature/x"
    assert runs[1]["verdict"] == "ok"
    assert data["total"] == 3 and data["next_before"] is None


def test_filters_by_repository_branch_and_status(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    a1 = add_run(store, repo="/srv/a", branch="main", status="pass")
    a2 = add_run(store, repo="/srv/a", branch="dev", status="fail")
    b1 = add_run(store, repo="/srv/b", branch="main", status="fail")
    client = make_app().test_client()

    def ids(**query: str) -> list[int]:
        res = client.get("/api/runs", query_string=query)
        assert res.status_code == 200
        return [r["id"] for r in res.get_json()["runs"]]

    assert ids(repo="/srv/a") == [a2, a1]
    assert ids(branch="main") == [b1, a1]
    assert ids(status="fail") == [b1, a2]
    assert ids(repo="/srv/a", status="fail") == [a2]
    assert ids(repo="/srv/a", branch="main", status="fail") == []
    assert ids(repo="/srv/none") == []
    assert ids(repo="", branch="", status="") == [b1, a2, a1]  # an empty field is any
    page = client.get("/?status=fail").get_data(as_text=True)
    assert "2 runs<" in page and '<option value="fail" selected>' in page


def test_pages_follow_each_other_without_gaps_or_repeats(
    store: ResultsStore, make_app: Callable[..., Flask]
) -> None:
    made = [add_run(store, status="pass" if i % 3 else "fail") for i in range(120)]
    client = make_app().test_client()
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        query = {"limit": "50"} | ({"before": str(before)} if before else {})
        data = client.get("/api/runs", query_string=query).get_json()
        assert data["total"] == 120 and len(data["runs"]) <= 50
        seen += [r["id"] for r in data["runs"]]
        pages += 1
        before = data["next_before"]
        if before is None:
            break
    assert pages == 3 and seen == sorted(made, reverse=True)
    # The HTML page's link to older runs carries the filter and the keyset.
    page = client.get("/?status=fail&limit=10").get_data(as_text=True)
    assert "40 runs<" in page
    fails = [i for i in sorted(made, reverse=True) if (i - made[0]) % 3 == 0]
    assert f'href="?status=fail&amp;limit=10&amp;before={fails[9]}"' in page
    older = client.get(f"/api/runs?status=fail&limit=10&before={fails[9]}").get_json()
    assert [r["id"] for r in older["runs"]] == fails[10:20]
    assert 'href="?limit=10"' not in page  # no "newest" link on the newest page


def test_queued_and_running_jobs_come_first_and_a_run_names_its_trigger(
    store: ResultsStore, plog_home: Path, make_app: Callable[..., Flask]
) -> None:
    queue = Queue(plog_home)
    done = queue.enqueue(JobSpec(repo="org/shop", head=SHA, branch="main", forge="github"))
    job = queue.claim("w1")
    assert job is not None and job.id == done.job_id
    run_id = add_run(store, repo="/work/org/shop", sha=SHA)
    queue.finish(job.id, "w1", result="pass", summary="ok", outcome={"run_id": run_id})
    hand_made = add_run(store)  # a `plog run` by hand: no job, no trigger
    running = queue.enqueue(JobSpec(repo="org/shop", head="1" * 40, branch="dev", forge="github"))
    assert queue.claim("w1") is not None
    waiting = queue.enqueue(
        JobSpec(repo="org/shop", head="2" * 40, branch="dev", pr_number=7, forge="gitea")
    )
    queue.close()
    client = make_app().test_client()
    data = client.get("/api/runs").get_json()
    assert [(j["id"], j["state"]) for j in data["jobs"]] == [
        (running.job_id, "running"),
        (waiting.job_id, "pending"),
    ]
    assert data["jobs"][1]["trigger"] == "pull request #7 (gitea)"
    triggers = {r["id"]: r["trigger"] for r in data["runs"]}
    assert triggers == {run_id: "push to main (github)", hand_made: None}
    page = client.get("/").get_data(as_text=True)
    assert page.index("In the queue") < page.index("2 runs<")
    assert ">queued<" in page and ">running<" in page
    # An older page lists runs only: the queue is shown on the newest.
    assert client.get(f"/api/runs?before={hand_made}").get_json()["jobs"] == []


def test_an_empty_home_shows_no_runs(make_app: Callable[..., Flask], plog_home: Path) -> None:
    client = make_app().test_client()
    res = client.get("/runs")
    assert res.status_code == 200 and "No runs." in res.get_data(as_text=True)
    assert not (plog_home / "results.sqlite3").exists()  # reading created nothing
    assert client.get("/api/runs").get_json()["total"] == 0


@pytest.fixture
def waitress_url(make_app: Callable[..., Flask]) -> Iterator[str]:
    server = create_server(make_app(), host="127.0.0.1", port=0, threads=4, ident="plog")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def test_over_real_http_with_waitress(store: ResultsStore, waitress_url: str) -> None:
    hostile_store(store)
    add_run(store, branch="main")
    started = time.perf_counter()
    res = httpx.get(f"{waitress_url}/", timeout=10)
    assert time.perf_counter() - started < 1.0
    assert res.status_code == 200 and res.headers["server"] == "plog"
    assert res.headers["content-type"] == "text/html; charset=utf-8"
    assert "'unsafe-inline'" not in res.headers["content-security-policy"]
    no_raw_markup(res.text)
    assert "2 runs<" in res.text
    css = httpx.get(f"{waitress_url}/dashboard.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    api = httpx.get(f"{waitress_url}/api/runs", timeout=10).json()
    assert [r["branch"] for r in api["runs"]] == ["main", JS_BRANCH]
