"""``/jobs/<id>``, where statuses and ``git push`` point before there is a run: JSON
for API clients, the run's page for a browser once the job made one, a page that
reloads itself meanwhile; behind the dashboard's token like every page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask

from plog_ci.queue import JobSpec, Queue
from plog_ci.store.sqlite import ResultsStore
from tests.web.conftest import add_run

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SCRIPT = "<script>alert(1)</script>"


def test_a_finished_job_sends_a_browser_to_its_run_and_tells_a_client_in_json(
    store: ResultsStore, plog_home: Path, make_app: Callable[..., Flask]
) -> None:
    run_id = add_run(store)
    queue = Queue(plog_home)
    queue.enqueue(JobSpec(repo="org/shop", head="a" * 40, branch="main", forge="github"))
    job = queue.claim("w1")
    assert job is not None
    queue.finish(job.id, "w1", result="pass", summary="ok", outcome={"run_id": run_id})
    client = make_app().test_client()
    page = client.get(f"/jobs/{job.id}", headers=HTML)
    assert page.status_code == 302 and page.headers["Location"] == f"/runs/{run_id}"
    data = client.get(f"/jobs/{job.id}").get_json()
    assert data == {
        "id": job.id,
        "state": "finished",
        "result": "pass",
        "summary": "ok",
        "head": "a" * 40,
        "run_id": run_id,
    }


def test_a_waiting_job_has_a_page_that_reloads_until_its_run_exists(
    plog_home: Path, make_app: Callable[..., Flask]
) -> None:
    queued = Queue(plog_home).enqueue(JobSpec(repo=f"/srv/{SCRIPT}", head="b" * 40, branch=SCRIPT))
    page = make_app().test_client().get(f"/jobs/{queued.job_id}", headers=HTML)
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    text = page.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="5">' in text and "queued" in text
    assert SCRIPT not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Content-Security-Policy" in page.headers


def test_unknown_jobs_are_404_in_either_form(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    for path in ("/jobs/77", f"/jobs/{2**63}"):
        assert client.get(path).status_code == 404
        assert client.get(path).get_json() == {"error": "no such job"}
        page = client.get(path, headers=HTML)
        assert page.status_code == 404 and "Not found" in page.get_data(as_text=True)


def test_the_job_page_needs_the_token_when_one_is_set(
    plog_home: Path, make_app: Callable[..., Flask]
) -> None:
    queued = Queue(plog_home).enqueue(JobSpec(repo="org/shop", head="c" * 40))
    client = make_app(DASHBOARD_TOKEN="tok").test_client()
    assert client.get(f"/jobs/{queued.job_id}").status_code == 401
    ok = client.get(f"/jobs/{queued.job_id}", headers={"Authorization": "Bearer tok"})
    assert ok.status_code == 200 and ok.get_json()["state"] == "pending"


def test_a_dashboard_only_app_needs_no_secret_and_refuses_deliveries(
    plog_home: Path,
) -> None:
    from plog_ci.web import create_app

    app = create_app({"WEBHOOK": False, "PLOG_HOME": str(plog_home)})
    try:
        client = app.test_client()
        assert client.get("/").status_code == 200
        res = client.post("/webhook", data=b"{}", headers={"X-GitHub-Event": "ping"})
        assert res.status_code == 503 and "--no-webhook" in res.get_json()["error"]
    finally:
        app.extensions["plog_intake"].close()
