"""The worker: runs jobs, posts exactly one final status, survives SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from plog_ci.errors import DependencyError
from plog_ci.forge import Report
from plog_ci.forge.local import LocalForge
from plog_ci.hook_install import install_hooks
from plog_ci.job_runner import JobOutcome
from plog_ci.queue import Job, JobSpec, Queue
from plog_ci.worker import Worker
from testing import worker_jobs
from testing.git_server import GitSetup
from testing.worker_jobs import RecordingForge, records, sleepy_runner

JOBFNS = Path(worker_jobs.__file__)


def _worker(home: Path, forge: object, runner: object = sleepy_runner) -> Worker:
    return Worker(
        home,
        runner=runner,
        forge_factory=lambda job: forge,  # type: ignore[arg-type]
        profile_for=lambda job, home: "load",
        lease_s=2.0,
        poll_s=0.05,
    )


def test_push_to_verdict_in_git_notes_and_reports_branch(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    sha = git_setup.commit("one")
    git_setup.push("main")
    Worker(
        git_setup.home, runner=sleepy_runner, profile_for=lambda j, h: "load", poll_s=0.05
    ).run_until_idle(timeout_s=30)
    (job,) = Queue().jobs()
    assert job.state == "finished" and job.result == "pass" and job.published
    log = git_setup.bare_git("log", "--notes=plog", "-1", "main").stdout.decode()
    assert "plog: pass (plog/load) p95 1ms" in log
    report = git_setup.bare_git("show", f"plog-reports:reports/{sha}.md").stdout.decode()
    assert report == "# Report for job 1\n"
    # Publishing again (a crash after posting) leaves one note and no new commit.
    tip = git_setup.bare_git("rev-parse", "plog-reports").stdout
    LocalForge(git_setup.bare).publish(
        Report(
            result="pass",
            profile="load",
            summary="p95 1ms",
            markdown="# Report for job 1\n",
            head=sha,
            job_id=1,
        )
    )
    assert git_setup.bare_git("rev-parse", "plog-reports").stdout == tip
    notes = git_setup.bare_git("notes", "--ref=plog", "list").stdout.decode().splitlines()
    assert len(notes) == 1


def test_a_crashing_job_ends_as_error(plog_home: Path, tmp_path: Path) -> None:
    def boom(job: Job, home: Path) -> JobOutcome:
        raise RuntimeError("stage exploded")

    log = tmp_path / "statuses.jsonl"
    Queue().enqueue(JobSpec(repo="r", head="a" * 40, branch="main"))
    _worker(plog_home, RecordingForge(log), boom).run_until_idle(timeout_s=10)
    (job,) = Queue().jobs()
    assert job.result == "error" and "stage exploded" in (job.summary or "")
    assert [(r["kind"], r["state"]) for r in records(log)] == [
        ("pending", "pending"),
        ("final", "error"),
    ]


def test_statuses_link_the_job_then_the_run_page(plog_home: Path, tmp_path: Path) -> None:
    def made_run(job: Job, home: Path) -> JobOutcome:
        return JobOutcome("pass", "ok", run_id=7)

    log = tmp_path / "statuses.jsonl"
    queued = Queue().enqueue(JobSpec(repo="r", head="a" * 40, branch="main"))
    Worker(
        plog_home,
        runner=made_run,
        forge_factory=lambda job: RecordingForge(log),
        profile_for=lambda job, home: "load",
        poll_s=0.05,
        dashboard_url="https://plog.example/",
    ).run_until_idle(timeout_s=10)
    assert [(r["kind"], r["target_url"]) for r in records(log)] == [
        ("pending", f"https://plog.example/jobs/{queued.job_id}"),
        ("final", "https://plog.example/runs/7"),
    ]


def test_forge_down_keeps_the_verdict_until_it_can_be_posted(
    plog_home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "statuses.jsonl"

    class Down(RecordingForge):
        def publish(self, report: Report) -> None:
            raise DependencyError("forge: HTTP 502")

    Queue().enqueue(JobSpec(repo="r", head="a" * 40, branch="main"))
    _worker(plog_home, Down(log)).run_once()
    (job,) = Queue().jobs()
    assert job.state == "finished" and not job.published
    _worker(plog_home, RecordingForge(log)).run_once()
    finals = [r for r in records(log) if r["kind"] == "final"]
    assert [r["result"] for r in finals] == ["pass"]
    assert Queue().jobs()[0].published


def _start_worker(home: Path, log: Path, lease: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PLOG_HOME=str(home), PLOG_TEST_JOB_SECONDS="0.4")
    return subprocess.Popen(
        [sys.executable, str(JOBFNS), str(home), str(log), str(lease)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_sigkilled_workers_leave_exactly_one_final_status(
    git_setup: GitSetup, tmp_path: Path
) -> None:
    log = tmp_path / "statuses.jsonl"
    heads = {}
    for i in range(4):
        heads[f"b{i}"] = git_setup.commit(f"c{i}")
        Queue().enqueue(JobSpec(repo=str(git_setup.bare), head=heads[f"b{i}"], branch=f"b{i}"))
    git_setup.push("--all")
    rng = random.Random(5)
    # Two kills: on a busy machine a new worker can take the same crashed job again
    # once its 1 s lease runs out, and a third crash would end it (3 crashes: error).
    for _ in range(2):
        victim = _start_worker(git_setup.home, log, lease=1.0)
        # Kill it mid-job: wait until it holds a lease, then a random moment later.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            j.state == "running" and f":{victim.pid}:" in (j.lease_owner or "")
            for j in Queue().jobs()
        ):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    survivors = [_start_worker(git_setup.home, log, lease=1.0) for _ in range(2)]
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not Queue().idle():
            time.sleep(0.2)
    finally:
        for proc in survivors:
            proc.terminate()
            proc.wait(timeout=10)
    jobs = Queue().jobs()
    assert all(j.state == "finished" and j.published for j in jobs), jobs
    assert any(j.attempts > 1 for j in jobs), "no job was taken over after a kill"
    assert {j.result for j in jobs} == {"pass"}, [(j.result, j.summary) for j in jobs]
    finals: dict[object, set[str]] = {}
    for rec in records(log):
        if rec["kind"] == "final":
            finals.setdefault(rec["job"], set()).add(str(rec["state"]))
    # Each job ends with one final state (a re-post after a crash repeats it).
    assert finals == {j.id: {"success"} for j in jobs}
    notes = git_setup.bare_git("notes", "--ref=plog", "list").stdout.decode().splitlines()
    assert sorted(line.split()[1] for line in notes) == sorted(heads.values())
    for sha in heads.values():
        note = git_setup.bare_git("notes", "--ref=plog", "show", sha).stdout.decode()
        assert note.startswith("plog: pass")


@pytest.mark.slow
def test_notes_are_written_safely_while_pushes_continue(git_setup: GitSetup) -> None:
    install_hooks(git_setup.bare)
    base = git_setup.commit("base")
    git_setup.push("main")
    forge = LocalForge(git_setup.bare)
    errors: list[BaseException] = []

    def publish_many() -> None:
        try:
            for i in range(15):
                forge.publish(
                    Report(
                        result="pass",
                        profile="load",
                        summary=f"n{i}",
                        markdown=f"# {i}\n",
                        head=f"{i:040x}",
                    )
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish_many) for _ in range(2)]
    for t in threads:
        t.start()
    pushed = [git_setup.commit(f"p{i}") for i in range(4)]
    for i, _sha in enumerate(pushed):
        git_setup.push(f"HEAD:refs/heads/p{i}")
    for t in threads:
        t.join()
    assert not errors
    assert len(git_setup.bare_git("notes", "--ref=plog", "list").stdout.splitlines()) == 15
    assert git_setup.bare_git("rev-parse", "p3").stdout.decode().strip() == pushed[-1]
    assert git_setup.bare_git("fsck", "--no-dangling").returncode == 0
    assert base


def test_fork_pull_request_is_skipped_unless_the_base_allows_it(
    git_setup: GitSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plog_ci.job_runner import pipeline_runner

    # The worker fetches a local path only when the allow-list names it.
    monkeypatch.setenv("PLOG_ALLOW_REPOS", str(git_setup.bare))
    base = git_setup.commit("base")
    git_setup.push("main")
    head = git_setup.commit("from a fork")
    git_setup.push("HEAD:refs/pull/2/head")  # where GitHub and Gitea keep PR heads
    spec = JobSpec(
        repo="github:o/r",
        head=head,
        base=base,
        branch="feature",
        pr_number=2,
        kind="pull_request",
        forge="github",
        forge_repo="o/r",
        clone_url=str(git_setup.bare),
        allow_secrets=False,
        fork=True,
    )
    job_id = Queue().enqueue(spec).job_id
    job = Queue().get(job_id)
    assert job is not None
    outcome = pipeline_runner(job, git_setup.home)
    assert outcome.status == "cancelled" and "forks" in outcome.summary
    # The worker fetched the PR head into its mirror.
    mirrors = list((git_setup.home / "mirrors").iterdir())
    assert len(mirrors) == 1
    assert git_setup.git("rev-parse", "refs/pull/2", cwd=mirrors[0]).stdout.decode().strip() == head


def test_a_refused_verdict_is_not_retried_forever(plog_home: Path, tmp_path: Path) -> None:
    from plog_ci.forge.api import ApiError

    class Refuses(RecordingForge):
        def publish(self, report: Report) -> None:
            raise ApiError("github POST /repos/o/r/statuses: HTTP 404", status=404, transient=False)

    Queue().enqueue(JobSpec(repo="r", head="a" * 40, branch="main"))
    _worker(plog_home, Refuses(tmp_path / "log")).run_until_idle(timeout_s=10)
    (job,) = Queue().jobs()
    assert job.result == "pass" and job.published
