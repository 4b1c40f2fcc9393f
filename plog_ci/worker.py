"""The worker: take jobs from the queue, run them, post exactly one final status.

One pass (``Worker.run_once``):

1. ingest spooled jobs (written by hooks while the database was unusable);
2. publish finished jobs whose verdict was not posted yet (outbox: a worker
   that died between finishing and posting leaves them behind);
3. claim a job (lease), post ``pending``, run it while a heartbeat thread
   renews the lease, record the result, publish it.

The job runner is injectable: ``runner(job, home) -> outcome`` where the
outcome has ``status``, ``summary``, ``profile``, ``report_markdown``,
``report_path`` and ``run_id`` (``plog_ci.pipeline.RunOutcome`` fits). The
default builds a ``RunRequest`` and calls ``plog_ci.pipeline.run``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from plog_ci import gitrepo
from plog_ci.errors import InputError, PlogError
from plog_ci.forge import Forge, Report
from plog_ci.home import state_dir
from plog_ci.queue import DEFAULT_LEASE_S, Job, Queue, QueueUnavailable

log = logging.getLogger("plog.worker")


class Outcome(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def profile(self) -> str: ...
    @property
    def report_markdown(self) -> str: ...


@dataclass(frozen=True)
class JobOutcome:
    status: str
    summary: str
    profile: str = "load"
    report_markdown: str = ""
    report_path: Path | None = None
    run_id: int | None = None


JobRunner = Callable[[Job, Path], Outcome]
ForgeFactory = Callable[[Job], Forge]
ProfileFinder = Callable[[Job, Path], str]


# -- defaults: the real pipeline --------------------------------------------


def mirror_path(home: Path, clone_url: str) -> Path:
    digest = hashlib.sha256(clone_url.encode()).hexdigest()[:16]
    return home / "mirrors" / f"{digest}.git"


def local_repo(job: Job, home: Path) -> Path:
    """The repository to test: the local one, or a mirror fetched from the forge."""
    spec = job.spec
    if not spec.clone_url:
        return Path(spec.repo)
    mirror = mirror_path(home, spec.clone_url)
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        gitrepo.git(
            ("init", "--quiet", "--bare", "--end-of-options", str(mirror)), cwd=mirror.parent
        )
    refspecs = ["+refs/heads/*:refs/heads/*"]
    if spec.pr_number is not None:
        refspecs.append(f"+refs/pull/{int(spec.pr_number)}/head:refs/pull/{int(spec.pr_number)}")
    gitrepo.git(
        ("fetch", "--quiet", "--no-tags", "--end-of-options", spec.clone_url, *refspecs),
        cwd=mirror,
        timeout=600,
    )
    return mirror


def forks_allowed(repo: Path, base: str | None) -> bool:
    """Whether plog.yml on the base branch lets pull requests from forks run.

    Reads ``allow_forks`` from the parsed config (absent: not allowed).
    """
    if base is None:
        return False
    from plog_ci.config import parse_config

    try:
        cfg = parse_config(gitrepo.GitRepo(repo).read(base, "plog.yml"))
    except PlogError:
        return False
    return bool(getattr(cfg, "allow_forks", False))


def pipeline_runner(job: Job, home: Path) -> Outcome:
    """Run the real pipeline (imported late: the worker starts without it)."""
    spec = job.spec
    repo = local_repo(job, home)
    if spec.fork and not forks_allowed(repo, spec.base):
        return JobOutcome(
            "cancelled", "pull requests from forks are not enabled in plog.yml on the base branch"
        )
    # Imported here, not at the top: the worker and its tests start without the
    # pipeline's statistics stack (scipy, numpy).
    from plog_ci.pipeline import RunRequest, run

    request = RunRequest(
        repo=repo,
        head=spec.head,
        base=spec.base,
        branch=spec.branch,
        pr_number=spec.pr_number,
        home=home,
        allow_secrets=spec.allow_secrets and not spec.fork,
    )
    outcome: Outcome = run(request)
    return outcome


def profile_from_config(job: Job, home: Path) -> str:
    """The load profile named in plog.yml at the head (for the status context)."""
    try:
        from plog_ci.config import parse_config

        cfg = parse_config(gitrepo.GitRepo(local_repo(job, home)).read(job.spec.head, "plog.yml"))
        return str(cfg.load.profile)
    except PlogError:
        return "load"


def default_forge(job: Job) -> Forge:
    spec = job.spec
    if spec.forge == "local":
        from plog_ci.forge.local import LocalForge

        return LocalForge(spec.repo)
    from plog_ci.forge.rest import RestForge

    return RestForge(spec.forge, spec.forge_repo or spec.repo, api_url=spec.forge_url)


# -- the worker -------------------------------------------------------------


def _report(
    job: Job, *, result: str, summary: str, profile: str, markdown: str, target_url: str | None
) -> Report:
    return Report(
        result=result,
        profile=profile,
        summary=summary,
        markdown=markdown,
        head=job.spec.head,
        target_url=target_url,
        branch=job.spec.branch,
        pr_number=job.spec.pr_number,
        job_id=job.id,
    )


class _Heartbeat:
    """Renews the lease while the job runs; notices when another worker took it."""

    def __init__(self, queue: Queue, job_id: int, owner: str, lease_s: float) -> None:
        self.queue, self.job_id, self.owner, self.lease_s = queue, job_id, owner, lease_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="plog-lease", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                if not self.queue.renew(self.job_id, self.owner, lease_s=self.lease_s):
                    self.lost = True
                    return
            except QueueUnavailable as exc:
                log.warning("lease renewal for job %s failed: %s", self.job_id, exc)


class Worker:
    def __init__(
        self,
        home: Path | None = None,
        *,
        runner: JobRunner = pipeline_runner,
        forge_factory: ForgeFactory = default_forge,
        profile_for: ProfileFinder = profile_from_config,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
        dashboard_url: str | None = None,
        owner: str | None = None,
    ) -> None:
        self.home = state_dir(Path(home) if home is not None else None, create=False)
        self.queue = Queue(self.home)
        self.runner = runner
        self.forge_factory = forge_factory
        self.profile_for = profile_for
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.dashboard_url = dashboard_url.rstrip("/") if dashboard_url else None
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()

    def _target_url(self, job: Job) -> str | None:
        return f"{self.dashboard_url}/jobs/{job.id}" if self.dashboard_url else None

    def publish_outbox(self) -> int:
        """Post verdicts that were recorded but not posted yet. Returns how many were."""
        done = 0
        for job in self.queue.unpublished():
            data = job.outcome or {}
            report = _report(
                job,
                result=job.result or "error",
                summary=job.summary or "",
                profile=str(data.get("profile") or "load"),
                markdown=str(data.get("report_markdown") or job.summary or ""),
                target_url=data.get("target_url") or self._target_url(job),
            )
            try:
                self.forge_factory(job).publish(report)
            except PlogError as exc:
                if getattr(exc, "transient", True) and not isinstance(exc, InputError):
                    log.warning("job %s: could not post the verdict yet: %s", job.id, exc)
                    continue
                # Retrying a refused request changes nothing; the verdict stays in the queue.
                log.error("job %s: the forge refused the verdict: %s", job.id, exc)
            self.queue.mark_published(job.id)
            done += 1
        return done

    def run_once(self) -> bool:
        """One pass. True when a job was run or a verdict posted."""
        try:
            self.queue.ingest_spool()
            published = self.publish_outbox()
            job = self.queue.claim(self.owner, lease_s=self.lease_s)
        except QueueUnavailable as exc:
            log.warning("queue unavailable: %s", exc)
            return False
        if job is None:
            return published > 0
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        log.info(
            "job %s: %s at %s (attempt %s)",
            job.id,
            job.spec.branch or job.spec.lane,
            job.spec.head[:12],
            job.attempts,
        )
        with _Heartbeat(self.queue, job.id, self.owner, self.lease_s) as beat:
            try:
                profile = self.profile_for(job, self.home)
            except Exception:
                log.exception("job %s: could not read the profile", job.id)
                profile = "load"
            target_url = self._target_url(job)
            if not job.pending_posted:
                try:
                    self.forge_factory(job).pending(
                        _report(
                            job,
                            result="pending",
                            summary="",
                            profile=profile,
                            markdown="",
                            target_url=target_url,
                        )
                    )
                    self.queue.mark_pending_posted(job.id)
                except PlogError as exc:
                    log.warning("job %s: could not post 'pending': %s", job.id, exc)
            data: dict[str, Any]
            try:
                outcome = self.runner(job, self.home)
                data = {
                    "status": outcome.status,
                    "summary": outcome.summary,
                    "profile": outcome.profile or profile,
                    "report_markdown": outcome.report_markdown,
                    "report_path": str(getattr(outcome, "report_path", None) or "") or None,
                    "run_id": getattr(outcome, "run_id", None),
                    "target_url": target_url,
                }
            except Exception as exc:
                log.exception("job %s crashed", job.id)
                data = {
                    "status": "error",
                    "summary": f"internal error: {type(exc).__name__}: {str(exc)[:200]}",
                    "profile": profile,
                    "report_markdown": "",
                    "target_url": target_url,
                }
        if beat.lost:
            log.warning("job %s: lease lost to another worker; dropping this result", job.id)
            return
        result = (
            data["status"]
            if data["status"] in ("pass", "fail", "no-verdict", "error", "cancelled")
            else "error"
        )
        if not self.queue.finish(
            job.id, self.owner, result=result, summary=data["summary"], outcome=data
        ):
            log.warning("job %s: taken over by another worker; dropping this result", job.id)
            return
        self.publish_outbox()

    def run_until_idle(self, timeout_s: float | None = None) -> None:
        """Work until no job is waiting, running or unposted (the demo uses this)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.stopping.is_set():
            worked = self.run_once()
            try:
                if not worked and self.queue.idle():
                    return
            except QueueUnavailable:
                pass
            if deadline is not None and time.monotonic() > deadline:
                return
            if not worked:
                time.sleep(self.poll_s)

    def run_forever(self) -> None:
        while not self.stopping.is_set():
            if not self.run_once():
                self.stopping.wait(self.poll_s)


def run_worker_until_idle(
    home: Path | None = None, *, runner: JobRunner | None = None, timeout_s: float | None = None
) -> Queue:
    """Run jobs until the queue is drained; returns the queue to inspect results."""
    worker = Worker(home, runner=runner or pipeline_runner)
    worker.run_until_idle(timeout_s)
    return worker.queue
