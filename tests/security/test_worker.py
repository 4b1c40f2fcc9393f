"""Hostile jobs against the real worker (issue 15, kinds 1, 2 and 8).

The jobs are put in the queue directly, as an older PLog (before the intake
checked anything) or a tampered queue would leave them: the worker must check
again before any git command. Real bare repositories in tmp dirs, the real
``Worker`` with its default runner and forge where they are what is tested, the
fake forge of ``testing/fake_forge.py``, and loopback listeners that record any
connection to an address that must not be reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from plog_ci.forge.sources import SourcePolicy
from plog_ci.job_runner import JobOutcome, pipeline_runner
from plog_ci.queue import Job, JobSpec, Queue
from plog_ci.worker import Worker
from testing.fake_forge import TOKEN, ConnectionRecorder, make_fake, redirect_app
from testing.repos import git
from testing.worker_jobs import RecordingForge, records

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def victim() -> Iterator[ConnectionRecorder]:
    with ConnectionRecorder() as rec:
        yield rec


@pytest.fixture
def serve_wsgi() -> Iterator[Any]:
    running: list[tuple[Any, threading.Thread]] = []

    def start(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return f"127.0.0.1:{server.server_port}"

    yield start
    for server, thread in running:
        server.shutdown()
        thread.join(timeout=5)


def _bare_with_history(tmp_path: Path, name: str = "forge") -> tuple[Path, Path, list[str]]:
    """A work tree with two commits on main, pushed to a bare 'forge' repository."""
    work = tmp_path / f"{name}-work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    shas = []
    for i in range(2):
        (work / "plog.yml").write_text(f"version: 1\n# {i}\n")
        git(work, "add", "--all")
        git(work, "commit", "--quiet", "-m", f"c{i}")
        shas.append(git(work, "rev-parse", "HEAD"))
    bare = tmp_path / f"{name}.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    git(work, "push", "--quiet", str(bare), "main")
    return work, bare, shas


def _never_runs(job: Job, home: Path) -> JobOutcome:
    raise AssertionError("a refused job must not run")


def _worker(home: Path, log: Path, sources: SourcePolicy, runner: Any = _never_runs) -> Worker:
    return Worker(
        home,
        runner=runner,
        forge_factory=lambda job: RecordingForge(log),
        sources=sources,
        lease_s=5.0,
        poll_s=0.05,
    )


def _spec(clone_url: str, **extra: Any) -> JobSpec:
    fields: dict[str, Any] = dict(
        repo="github:o/r",
        head="a" * 40,
        branch="main",
        forge="github",
        forge_repo="o/r",
        clone_url=clone_url,
    )
    fields.update(extra)
    return JobSpec(**fields)


def _hostile(port: int, other: Path) -> list[tuple[str, str]]:
    return [
        ("file:///etc", "scheme 'file'"),
        (f"file://{other}", "scheme 'file'"),
        (str(other), "not an allowed repository"),
        ("http://169.254.169.254/latest/meta-data/", "plain http"),
        (f"https://127.0.0.1:{port}/o/r.git", "not on the allow-list"),
        (f"http://localhost:{port}/o/r.git", "plain http"),
        ("ext::sh -c id", "spaces or control characters"),
        ("ext::id", "transport helper"),
        ("--upload-pack=id", "option"),
        ("ssh://git@github.com/o/r.git", "ssh"),
        ("https://evil.example.com/o/r.git", "not on the allow-list"),
    ]


def test_hostile_queued_jobs_are_refused_before_any_git_command(
    plog_home: Path, tmp_path: Path, victim: ConnectionRecorder
) -> None:
    _, other, _ = _bare_with_history(tmp_path, "other")
    cases = _hostile(victim.port, other)
    q = Queue()
    for i, (url, _) in enumerate(cases):
        q.enqueue(_spec(url, head=f"{i + 1:040x}", branch=f"b{i}"))
    log = tmp_path / "statuses.jsonl"
    _worker(plog_home, log, SourcePolicy()).run_until_idle(timeout_s=60)
    jobs = {j.spec.clone_url: j for j in Queue().jobs()}
    for url, reason in cases:
        job = jobs[url]
        assert job.state == "finished" and job.result == "error" and job.published, url
        assert (job.summary or "").startswith("refused: ") and reason in (job.summary or ""), (
            url,
            job.summary,
        )
    # One final status per job, no 'pending' (nothing ran), nothing fetched or contacted.
    finals = [r for r in records(log) if r["kind"] == "final"]
    assert sorted(int(str(r["job"])) for r in finals) == sorted(j.id for j in jobs.values())
    assert {r["state"] for r in records(log)} == {"error"}
    assert not (plog_home / "mirrors").exists()
    assert victim.connections == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_allowed_host_that_resolves_to_loopback_is_never_contacted(
    plog_home: Path, tmp_path: Path, victim: ConnectionRecorder, host: str
) -> None:
    Queue().enqueue(_spec(f"https://{host}:{victim.port}/o/r.git"))
    log = tmp_path / "statuses.jsonl"
    policy = SourcePolicy(hosts=(f"{host}:{victim.port}",))
    _worker(plog_home, log, policy).run_until_idle(timeout_s=30)
    (job,) = Queue().jobs()
    assert job.result == "error" and "loopback address" in (job.summary or "")
    assert [r["kind"] for r in records(log)] == ["final"]
    assert victim.connections == 0


def test_the_default_runner_checks_again(plog_home: Path, victim: ConnectionRecorder) -> None:
    # pipeline_runner called directly (a custom worker loop) still refuses.
    job_id = Queue().enqueue(_spec(f"https://127.0.0.1:{victim.port}/o/r.git")).job_id
    job = Queue().get(job_id)
    assert job is not None
    from plog_ci.forge.sources import SourceRefused

    with pytest.raises(SourceRefused, match="not on the allow-list"):
        pipeline_runner(job, plog_home, sources=SourcePolicy())
    assert victim.connections == 0 and not (plog_home / "mirrors").exists()


def test_a_redirect_from_an_allowed_forge_is_not_followed(
    plog_home: Path, tmp_path: Path, victim: ConnectionRecorder, serve_wsgi: Any
) -> None:
    # An allowed (loopback, http opt-in) forge answers git with a redirect to the
    # address that must not be reached: git runs with http.followRedirects=false.
    forge = serve_wsgi(redirect_app(f"http://127.0.0.1:{victim.port}/o/r.git/info/refs"))
    port = forge.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/o/r.git"
    Queue().enqueue(_spec(url))
    log = tmp_path / "statuses.jsonl"
    policy = SourcePolicy(hosts=(f"localhost:{port}",), allow_http_loopback=True)
    _worker(plog_home, log, policy, runner=pipeline_runner).run_until_idle(timeout_s=60)
    (job,) = Queue().jobs()
    assert job.result == "error" and "could not fetch" in (job.summary or ""), job.summary
    assert "302" in (job.summary or "")  # git saw the redirect and did not follow it
    assert [r["kind"] for r in records(log)] == ["pending", "final"]
    assert victim.connections == 0


def test_an_allow_listed_local_repository_is_fetched(plog_home: Path, tmp_path: Path) -> None:
    _, bare, shas = _bare_with_history(tmp_path)
    job_id = Queue().enqueue(_spec(str(bare), head=shas[1], base=shas[0])).job_id
    job = Queue().get(job_id)
    assert job is not None
    from plog_ci.job_runner import local_repo

    mirror = local_repo(job, plog_home, sources=SourcePolicy(repos=(str(tmp_path / "*.git"),)))
    assert git(mirror, "rev-parse", "refs/heads/main") == shas[1]


def test_an_ssh_fetch_connects_to_the_checked_address_not_a_second_lookup(
    plog_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real git, and an `ssh` on PATH that records how git called it (no sshd here):
    # ssh must be told the address the policy checked, not left to resolve the name.
    calls = tmp_path / "ssh-argv"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {calls}\nexit 1\n', encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    job_id = Queue().enqueue(_spec("ssh://git@forge.example/o/r.git")).job_id
    job = Queue().get(job_id)
    assert job is not None
    from plog_ci.errors import DependencyError
    from plog_ci.job_runner import local_repo

    policy = SourcePolicy(
        hosts=("forge.example",), allow_ssh=True, resolver=lambda host, port: ["93.184.216.34"]
    )
    with pytest.raises(DependencyError, match="could not fetch"):
        local_repo(job, plog_home, sources=policy)
    argv = calls.read_text(encoding="utf-8").splitlines()
    assert argv[:4] == ["-o", "HostName=93.184.216.34", "-o", "HostKeyAlias=forge.example"]
    assert "git@forge.example" in argv


# -- kind 2: tokens ------------------------------------------------------------------------


def test_a_queued_gitea_job_never_sends_the_token_to_the_host_it_names(
    plog_home: Path, tmp_path: Path, victim: ConnectionRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An older intake derived the API URL from the payload's html_url.
    monkeypatch.setenv("PLOG_GITEA_TOKEN", TOKEN)
    monkeypatch.delenv("PLOG_FORGE_API_URL", raising=False)
    Queue().enqueue(
        JobSpec(
            repo="gitea:o/r",
            head="b" * 40,
            branch="main",
            forge="gitea",
            forge_repo="o/r",
            forge_url=f"http://127.0.0.1:{victim.port}/api/v1",
        )
    )
    worker = Worker(
        plog_home,
        runner=lambda job, home: JobOutcome("pass", "ok"),
        profile_for=lambda job, home: "load",
        sources=SourcePolicy(allow_http_loopback=True),
        poll_s=0.05,
    )
    worker.run_until_idle(timeout_s=30)
    (job,) = Queue().jobs()
    assert job.state == "finished" and job.result == "pass" and job.published
    assert victim.connections == 0


def test_statuses_go_to_the_configured_api_url_with_the_token(
    plog_home: Path, monkeypatch: pytest.MonkeyPatch, serve_wsgi: Any, victim: ConnectionRecorder
) -> None:
    fake = make_fake("gitea")
    api = f"http://{serve_wsgi(fake)}/api/v1"
    monkeypatch.setenv("PLOG_GITEA_TOKEN", TOKEN)
    Queue().enqueue(
        JobSpec(
            repo="gitea:o/r",
            head="c" * 40,
            branch="main",
            forge="gitea",
            forge_repo="o/r",
            forge_url=f"http://127.0.0.1:{victim.port}/api/v1",  # recorded, not used
        )
    )
    Worker(
        plog_home,
        runner=lambda job, home: JobOutcome("fail", "p95 up"),
        profile_for=lambda job, home: "load",
        sources=SourcePolicy(allow_http_loopback=True, api_url=api),
        poll_s=0.05,
    ).run_until_idle(timeout_s=30)
    states = [c[2]["state"] for c in fake.config["calls"] if "/statuses/" in c[1]]
    assert states == ["pending", "failure"]
    assert victim.connections == 0


# -- kind 8: inputs that crashed ----------------------------------------------------------


def test_a_pull_request_without_its_head_ref_ends_with_a_clear_error(
    plog_home: Path, tmp_path: Path
) -> None:
    _, bare, shas = _bare_with_history(tmp_path)
    Queue().enqueue(_spec(str(bare), head=shas[1], base=shas[0], pr_number=7, kind="pull_request"))
    log = tmp_path / "statuses.jsonl"
    policy = SourcePolicy(repos=(str(bare),))
    Worker(
        plog_home,
        forge_factory=lambda job: RecordingForge(log),
        sources=policy,
        poll_s=0.05,
    ).run_until_idle(timeout_s=60)
    (job,) = Queue().jobs()
    assert job.result == "error"
    assert job.summary == "pull request 7: the repository has no refs/pull/7/head"
    assert [r["kind"] for r in records(log)] == ["pending", "final"]


class _Captured(Exception):
    pass


def _capture_request(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Stand in for the pipeline's run (k6 and a service are not what is tested): record
    the RunRequest the worker built from the mirror."""
    import plog_ci.pipeline

    seen: list[Any] = []

    def run(request: Any) -> Any:
        seen.append(request)
        return JobOutcome("pass", "recorded")

    monkeypatch.setattr(plog_ci.pipeline, "run", run)
    return seen


def test_a_gitea_force_push_does_not_trust_before(
    plog_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, bare, shas = _bare_with_history(tmp_path)
    first, before = shas
    policy = SourcePolicy(repos=(str(bare),))
    seen = _capture_request(monkeypatch)
    # Case 1: the mirror never saw 'before'; the rewritten head's parent is the base.
    git(work, "reset", "--quiet", "--hard", first)
    (work / "plog.yml").write_text("version: 1\n# rewritten\n")
    git(work, "commit", "--quiet", "-am", "rewritten")
    rewritten = git(work, "rev-parse", "HEAD")
    git(work, "push", "--quiet", "--force", str(bare), "main")
    Queue().enqueue(_spec(str(bare), head=rewritten, base=before))  # Gitea: no 'forced'
    log = tmp_path / "statuses.jsonl"
    w = Worker(
        plog_home,
        forge_factory=lambda job: RecordingForge(log),
        sources=policy,
        poll_s=0.05,
    )
    w.run_until_idle(timeout_s=60)
    assert seen[-1].base == first and seen[-1].head == rewritten
    # Case 2: the mirror has 'before' (fetched earlier), not an ancestor: the merge base.
    git(work, "reset", "--quiet", "--hard", before)
    git(work, "push", "--quiet", "--force", str(bare), "main")
    Queue().enqueue(_spec(str(bare), head=before, base=first, branch="main", pr_number=None))
    w.run_until_idle(timeout_s=60)
    git(work, "reset", "--quiet", "--hard", rewritten)
    git(work, "push", "--quiet", "--force", str(bare), "main")
    Queue().enqueue(_spec(str(bare), head=rewritten, base=before, config_hash="again"))
    w.run_until_idle(timeout_s=60)
    assert seen[-1].base == first
    # An ordinary push keeps its 'before'.
    (work / "plog.yml").write_text("version: 1\n# next\n")
    git(work, "commit", "--quiet", "-am", "next")
    nxt = git(work, "rev-parse", "HEAD")
    git(work, "push", "--quiet", str(bare), "main")
    Queue().enqueue(_spec(str(bare), head=nxt, base=rewritten))
    w.run_until_idle(timeout_s=60)
    assert seen[-1].base == rewritten
    assert {j.result for j in Queue().jobs()} == {"pass"}


def test_a_branch_that_is_not_utf8_reaches_the_pipeline_as_text(
    plog_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bare, shas = _bare_with_history(tmp_path)
    seen = _capture_request(monkeypatch)
    Queue().enqueue(_spec(str(bare), head=shas[1], base=shas[0], branch="lat\udce9n"))
    Worker(
        plog_home,
        forge_factory=lambda job: RecordingForge(tmp_path / "log"),
        sources=SourcePolicy(repos=(str(bare),)),
        poll_s=0.05,
    ).run_until_idle(timeout_s=60)
    (job,) = Queue().jobs()
    assert job.result == "pass"
    assert seen[0].branch == "lat\\xe9n"
    seen[0].branch.encode("utf-8")  # storable anywhere text is


@pytest.mark.slow
def test_a_branch_that_is_not_utf8_runs_the_real_pipeline(
    plog_home: Path, petstore_repo: Path, tmp_path: Path
) -> None:
    """End to end: the real pipeline (service, k6, results store) on a non-UTF-8 branch."""
    bare = tmp_path / "petstore.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(petstore_repo), str(bare))
    head = git(petstore_repo, "rev-parse", "HEAD")
    Queue().enqueue(_spec(str(bare), head=head, branch="lat\udce9n"))
    env = {
        **os.environ,
        "PLOG_HOME": str(plog_home),
        "PLOG_ALLOW_REPOS": str(bare),
    }
    code = (
        "from plog_ci.worker import Worker\n"
        "from testing.worker_jobs import RecordingForge\n"
        "from pathlib import Path\n"
        f"Worker(forge_factory=lambda j: RecordingForge(Path({str(tmp_path / 'log')!r})),"
        " poll_s=0.05).run_until_idle(timeout_s=240)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, timeout=300, check=True)
    (job,) = Queue().jobs()
    assert job.result in ("pass", "fail", "no-verdict"), job.summary
    assert "internal error" not in (job.summary or "")


def test_plog_worker_refuses_a_queued_hostile_job_end_to_end(
    plog_home: Path, tmp_path: Path, victim: ConnectionRecorder
) -> None:
    """The real ``plog worker`` process with its options: refused, one verdict in git notes."""
    _, bare, shas = _bare_with_history(tmp_path)
    Queue().enqueue(
        JobSpec(
            repo=str(bare),
            head=shas[1],
            branch="main",
            forge="local",
            clone_url=f"https://127.0.0.1:{victim.port}/o/r.git",
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLOG_ALLOW", "PLOG_FORGE"))}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "plog_ci",
            "worker",
            "--until-idle",
            "--poll",
            "0.05",
            "--allow-forge-host",
            f"127.0.0.1:{victim.port}",
        ],
        env={**env, "PLOG_HOME": str(plog_home)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    (job,) = Queue().jobs()
    assert job.result == "error" and job.published
    assert "loopback address" in (job.summary or "") and "refused" in res.stderr
    note = git(bare, "notes", "--ref=plog", "show", shas[1])
    assert note.startswith("plog: error")
    assert victim.connections == 0 and not (plog_home / "mirrors").exists()
