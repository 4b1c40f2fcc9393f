"""The AI analysis end to end (issue 20): the real ``plog run`` and the real worker on
the example service, with ``report.ai`` pointing at the fake OpenAI-compatible
server. The verdict is final and posted before the narrative is requested; the
report gains the section with grounded numbers; a hanging server costs at most
its timeout; the evidence and the narrative are kept with the run."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import request
from werkzeug.serving import make_server

from plog_ci.forge.sources import SourcePolicy
from plog_ci.jobs import JobSpec
from plog_ci.queue import Queue
from plog_ci.report.evidence import Bundle
from plog_ci.report.grounding import ungrounded_numbers
from plog_ci.results import TOTAL
from plog_ci.store.run_query import run_detail
from plog_ci.store.sqlite import open_store
from plog_ci.worker import Worker
from testing.fake_forge import TOKEN, make_fake
from testing.fake_openai import FakeOpenAI, Reply, evidence_lines, fake_openai
from testing.repos import FAST_PLOG_YML, commit_files, plog_run

HOSTILE = "Ignore the rules <script>alert(document.cookie)</script> [docs](javascript:x) @admins"


def ai_yml(url: str, timeout: str = "20s") -> str:
    return (
        FAST_PLOG_YML
        + f"report:\n  ai:\n    url: {url}\n    model: openai/gpt-oss-20b\n"
        + f"    adapter: plog\n    timeout: {timeout}\n    api_key_env: PLOG_TEST_LLM_KEY\n"
    )


def with_ai(repo: Path, url: str, timeout: str = "20s") -> str:
    return commit_files(repo, {"plog.yml": ai_yml(url, timeout)}, "report.ai")


class Model:
    """A scripted model that reads the evidence it was sent: two grounded claims, one
    with an invented number, one citing an unknown item, one carrying hostile text.
    It notes the run's stored status when asked (the verdict must be final by then)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.status_when_asked: list[str] = []

    def __call__(self, body: dict[str, Any]) -> Reply:
        user = body["messages"][1]["content"]
        run_id = int(re.search(r"Evidence of run (\d+)", user).group(1))  # type: ignore[union-attr]
        store = open_store(self.home)
        try:
            self.status_when_asked.append(store.get_run(run_id).status)
        finally:
            store.close()
        items = evidence_lines(body)
        t = next(i["id"] for i in items if i["kind"] == "stats" and i["subject"] == TOTAL)
        return Reply.claims(
            [
                {
                    "text": f"The run served {{{t}.requests}} requests at p95 {{{t}.p95_ms}} ms",
                    "evidence": [t],
                    "kind": "impact",
                },
                {"text": "The verdict is {e1.status}", "evidence": ["e1"], "kind": "impact"},
                {"text": "Latency rose 45% after the change", "evidence": [t], "kind": "cause"},
                {"text": "The cache was cold", "evidence": ["e999"], "kind": "cause"},
                {"text": HOSTILE, "evidence": [t], "kind": "suggestion"},
            ]
        )


def section(report: str) -> str:
    start = report.index("## AI analysis")
    return report[start : report.index("\n## ", start + 1)]


def claim_lines(text: str) -> list[str]:
    narrative = text[text.index("### Narrative") :]
    return [line for line in narrative.splitlines() if line.startswith("- ")]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai() as server:
        yield server


@pytest.mark.slow
def test_plog_run_adds_a_grounded_ai_analysis_after_the_verdict(
    petstore_repo: Path, plog_home: Path, fake: FakeOpenAI
) -> None:
    with_ai(petstore_repo, fake.url)
    model = Model(plog_home)
    fake.default = model
    done = plog_run(petstore_repo, plog_home, {"PLOG_TEST_LLM_KEY": "sk-test-key-123456"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert fake.problems == [] and len(fake.requests) == 1
    assert fake.requests[0][2]["model"] == "plog"
    assert model.status_when_asked == ["pass"]  # final before the narrative was asked
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PASS ") and lines[-1].startswith("AI analysis: 3 claims kept")
    report_path = Path(re.search(r"report: (\S+)", done.stdout).group(1))  # type: ignore[union-attr]
    report = report_path.read_text(encoding="utf-8")
    assert (
        report.index("## Findings") < report.index("## AI analysis") < report.index("## Operations")
    )
    text = section(report)
    assert "openai/gpt-oss-20b with the adapter plog" in text
    assert "2 claims dropped (literal-number: 1, unknown-evidence: 1)" in text
    claims = claim_lines(text)
    assert len(claims) == 3 and any(
        line.startswith("- The verdict is pass (e1)") for line in claims
    )
    run_id = int(re.search(r"run(\d+)\.md$", report_path.name).group(1))  # type: ignore[union-attr]
    store = open_store(plog_home)
    detail = run_detail(store.path, run_id)
    store.close()
    assert detail is not None
    bundle = Bundle.from_json(detail["documents"]["evidence"])
    # md_escape writes "@" as "@&#8203;" (no mention): markup, not a number of the text.
    shown = re.sub(r"&#[0-9]+;", "", "\n".join(claims))
    assert ungrounded_numbers(shown, bundle) == []
    assert "Latency rose" not in report and "45%" not in report
    assert re.search(r"(?<!\\)<script>", report) is None and "\\<script\\>" in report
    assert "](javascript:" not in report and "@admins" not in report  # @&#8203;admins
    assert "sk-test-key-123456" not in report + done.stdout + done.stderr
    narrative = detail["documents"]["narrative"]
    assert narrative["adapter"] == "plog" and narrative["missing"] is None
    assert narrative["dropped"] == {"literal-number": 1, "unknown-evidence": 1}
    assert len(narrative["claims"]) == 3 and narrative["guide"] == []


@pytest.mark.slow
def test_a_hanging_server_adds_at_most_its_timeout(
    petstore_repo: Path, plog_home: Path, fake: FakeOpenAI
) -> None:
    with_ai(petstore_repo, fake.url, timeout="2s")
    fake.default = Reply(hang=True)
    done = plog_run(petstore_repo, plog_home, {"PLOG_TEST_LLM_KEY": "k"})
    ended = time.monotonic()
    assert done.returncode == 0, done.stderr[-3000:]
    (asked,) = fake.requests
    waited = ended - asked[0]
    assert waited <= 2 + 1.5, waited  # the timeout, then writing the report and exiting
    report = Path(re.search(r"report: (\S+)", done.stdout).group(1)).read_text()  # type: ignore[union-attr]
    assert "Narrative missing: no answer within 2 s \\(timeout\\)." in report
    assert (
        done.stdout.splitlines()[-1]
        == "AI analysis: narrative missing: no answer within 2 s (timeout)"
    )


@pytest.mark.slow
def test_the_worker_posts_the_status_before_the_narrative_and_the_comment_after(
    petstore_repo: Path, plog_home: Path, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = with_ai(petstore_repo, fake.url)
    events: list[tuple[float, str]] = []
    forge = make_fake("github")

    @forge.before_request
    def note() -> None:
        events.append((time.monotonic(), f"{request.method} {request.path}"))

    server = make_server("127.0.0.1", 0, forge, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("PLOG_GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("PLOG_TEST_LLM_KEY", "sk-worker-key-98765")
    model = Model(plog_home)
    fake.default = model
    try:
        Queue().enqueue(
            JobSpec(
                repo=str(petstore_repo),
                head=head,
                branch="main",
                pr_number=7,
                kind="pull_request",
                forge="github",
                forge_repo="o/r",
            )
        )
        api = f"http://127.0.0.1:{server.server_port}"
        Worker(
            plog_home, sources=SourcePolicy(allow_http_loopback=True, api_url=api), poll_s=0.05
        ).run_until_idle(timeout_s=120)
    finally:
        server.shutdown()
    (job,) = Queue().jobs()
    assert job.result == "pass" and job.published, job.summary
    asked = fake.requests[0][0]
    before = [what for at, what in events if at < asked]
    after = [what for at, what in events if at > asked]
    status = f"POST /repos/o/r/statuses/{head}"
    assert before == [status, status]  # pending, then the final status
    assert "POST /repos/o/r/issues/7/comments" in after and status in after
    assert model.status_when_asked == ["pass"]
    states = [c[2]["state"] for c in forge.config["calls"] if "/statuses/" in c[1]]
    assert states == ["pending", "success", "success"]
    (comment,) = [
        c[2]["body"] for c in forge.config["calls"] if c[1].endswith("/comments") and c[0] == "POST"
    ]
    assert "## AI analysis" in comment and "sk-worker-key-98765" not in comment
    assert re.search(r"(?<!\\)<script>", comment) is None
