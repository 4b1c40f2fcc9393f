"""The worker: take jobs from the queue, run them, post exactly one final status.

One pass (``Worker.run_once``):

1. ingest spooled jobs (written by hooks while the database was unusable);
2. publish finished jobs whose verdict was not posted yet (outbox: a worker
   that died between finishing and posting leaves them behind);
3. reap what a dead worker left (``plog_ci.reaper``: its services and k6,
   temporary folders, and its run closed as ``error: worker died``);
4. claim a job (lease), post ``pending``, run it while a heartbeat thread
   renews the lease and a record under ``$PLOG_HOME/procs`` names what it
   started, record the result, publish it. A job whose worker died is taken
   over when its lease expires (retried, or ended after repeated crashes).

Faults of PLog's own disk are not verdicts. A job whose run could not write the
state directory (``StateError``; ``RunOutcome.retry``) gets no final status: it is
released to the queue (``Queue.release``), taken again after a lease's length, and
ends as ``error`` only when its attempts run out. A queue database that cannot be
written stops the worker with ``StateError`` (exit 4), logged; its job is taken
over when its lease expires.

Jobs run on the worker's main thread: the services and k6 they start die with
it (``PR_SET_PDEATHSIG``, ``plog_ci.proc``).

The job runner is injectable: ``runner(job, home) -> outcome`` where the
outcome has ``status``, ``summary``, ``profile``, ``report_markdown``,
``report_path`` and ``run_id`` (``plog_ci.pipeline.RunOutcome`` fits). The
default builds a ``RunRequest`` and calls ``plog_ci.pipeline.run``.

Nothing is fetched on a payload's word: before any git command the job's
``clone_url`` is checked against the worker's own ``SourcePolicy`` (the
allow-list, schemes, resolved addresses; ``plog_ci.forge.sources``), also for
jobs queued by an older version. A refused job ends as ``error`` with the
reason, one final status, and nothing fetched. Forge tokens go only to the
worker's configured API URL (GitHub's by default), never to a URL the job names
unless its host is an allowed forge host.
"""

from __future__ import annotations

import functools
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

from plog_ci import gitrepo, proc, reaper
from plog_ci.errors import DependencyError, InputError, PlogError, StateError
from plog_ci.forge import Forge, Report
from plog_ci.forge.sources import GITHUB_API, SourcePolicy, api_url_allowed
from plog_ci.home import state_dir
from plog_ci.proc import ProcessError
from plog_ci.queue import (
    DEFAULT_LEASE_S,
    Job,
    JobSpec,
    Queue,
    QueueUnavailable,
    QueueUnwritable,
)

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


def policy_for(spec: JobSpec, sources: SourcePolicy | None) -> SourcePolicy:
    """The worker's policy for this job (the environment's when none is given)."""
    policy = sources if sources is not None else SourcePolicy.from_env()
    return policy.with_forge_default(spec.forge)


def local_repo(job: Job, home: Path, *, sources: SourcePolicy | None = None) -> Path:
    """The repository to test: the local one, or a mirror fetched from the forge.

    The URL is checked (``SourceRefused``) before git runs, and git runs with
    that protocol only, no redirects and the checked addresses pinned.
    """
    spec = job.spec
    if not spec.clone_url:
        return Path(spec.repo)
    checked = policy_for(spec, sources).check(spec.clone_url)
    mirror = mirror_path(home, checked.url)
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        gitrepo.git(
            ("init", "--quiet", "--bare", "--end-of-options", str(mirror)), cwd=mirror.parent
        )
    config = checked.git_config()

    def fetch(*refspecs: str) -> None:
        gitrepo.git(
            (*config, "fetch", "--quiet", "--no-tags", "--end-of-options", checked.url, *refspecs),
            cwd=mirror,
            timeout=600,
        )

    try:
        fetch("+refs/heads/*:refs/heads/*")
    except ProcessError as exc:
        raise DependencyError(
            f"could not fetch {checked.url[:200]}: {exc.output.strip()[-300:]}",
            hint="check that the forge is up and the repository exists",
        ) from None
    if spec.pr_number is not None:
        number = int(spec.pr_number)
        try:
            fetch(f"+refs/pull/{number}/head:refs/pull/{number}")
        except ProcessError:
            raise InputError(
                f"pull request {number}: the repository has no refs/pull/{number}/head",
                hint="the forge keeps each pull request's head there; was the pull request "
                "deleted, or is this not a GitHub/Gitea repository?",
            ) from None
    return mirror


def effective_base(repo: Path, spec: JobSpec) -> str | None:
    """The base to compare with, checked against git rather than trusted from the payload.

    A push's ``before`` that is missing from the fetched history or is not an
    ancestor of the head (a force push: Gitea sends no ``forced`` field) is
    replaced by the merge base of the two, else the head's parent. A pull
    request's base that is missing is replaced by the head's parent.
    """
    if spec.base is None:
        return None
    git = gitrepo.GitRepo(repo)
    try:
        head = git.resolve(spec.head)
    except InputError:
        return spec.base  # the pipeline reports the missing head itself
    try:
        base = git.resolve(spec.base)
    except InputError:
        base = None
    if base is not None:
        merge_base = git.merge_base(base, head)
        if spec.kind == "pull_request" or merge_base == base:
            return base
        if merge_base is not None and merge_base != head:
            return merge_base
    return git.parent(head)


def printable_branch(branch: str | None) -> str | None:
    """A branch name as text: bytes that are not UTF-8 are written as \\xNN escapes."""
    if branch is None:
        return None
    raw = branch.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


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


def pipeline_runner(job: Job, home: Path, *, sources: SourcePolicy | None = None) -> Outcome:
    """Run the real pipeline (imported late: the worker starts without it)."""
    spec = job.spec
    repo = local_repo(job, home, sources=sources)
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
        base=effective_base(repo, spec),
        branch=printable_branch(spec.branch),
        pr_number=spec.pr_number,
        home=home,
        allow_secrets=spec.allow_secrets and not spec.fork,
    )
    outcome: Outcome = run(request)
    return outcome


def profile_from_config(job: Job, home: Path, *, sources: SourcePolicy | None = None) -> str:
    """The load profile named in plog.yml at the head (for the status context)."""
    try:
        from plog_ci.config import parse_config

        repo = local_repo(job, home, sources=sources)
        cfg = parse_config(gitrepo.GitRepo(repo).read(job.spec.head, "plog.yml"))
        return str(cfg.load.profile)
    except PlogError:
        return "load"


def forge_api_url(spec: JobSpec, *, sources: SourcePolicy | None = None) -> str | None:
    """Where this job's token may go: the configured API URL; else GitHub's for GitHub;
    the job's recorded ``forge_url`` only when its host is an allowed forge host."""
    policy = sources if sources is not None else SourcePolicy.from_env()
    if policy.api_url:
        return policy.api_url
    recorded = spec.forge_url
    if recorded:
        from urllib.parse import urlsplit

        allowed = policy_for(spec, policy)
        host = urlsplit(recorded).netloc.rpartition("@")[2].lower()
        why = api_url_allowed(recorded, allow_http_loopback=allowed.allow_http_loopback)
        if why is None and (
            host in {h.lower() for h in allowed.hosts}
            or (spec.forge == "github" and recorded.rstrip("/") == GITHUB_API)
        ):
            return recorded
        raise InputError(
            f"job {spec.forge_repo or spec.repo}: API URL {recorded[:200]!r} is not configured "
            "for this worker; no token is sent there",
            hint="start plog worker with --api-url (PLOG_FORGE_API_URL)",
        )
    if spec.forge == "gitea":
        raise InputError(
            "no Gitea API URL configured for this worker; no token is sent",
            hint="start plog worker with --api-url (PLOG_FORGE_API_URL)",
        )
    return None


def default_forge(job: Job, *, sources: SourcePolicy | None = None) -> Forge:
    spec = job.spec
    if spec.forge == "local":
        from plog_ci.forge.local import LocalForge

        return LocalForge(spec.repo)
    from plog_ci.forge.rest import RestForge

    return RestForge(
        spec.forge,
        spec.forge_repo or spec.repo,
        api_url=forge_api_url(spec, sources=sources),
    )


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
        forge_factory: ForgeFactory | None = None,
        profile_for: ProfileFinder = profile_from_config,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 1.0,
        dashboard_url: str | None = None,
        owner: str | None = None,
        sources: SourcePolicy | None = None,
    ) -> None:
        self.home = state_dir(Path(home) if home is not None else None, create=False)
        self.queue = Queue(self.home)
        self.sources = sources if sources is not None else SourcePolicy.from_env()
        # The defaults get this worker's policy; injected functions are used as given.
        if runner is pipeline_runner:
            runner = functools.partial(pipeline_runner, sources=self.sources)
        if profile_for is profile_from_config:
            profile_for = functools.partial(profile_from_config, sources=self.sources)
        self.runner = runner
        self.forge_factory: ForgeFactory = forge_factory or functools.partial(
            default_forge, sources=self.sources
        )
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

    def reap(self) -> reaper.Reaped:
        """End what dead workers left (see ``plog_ci.reaper``); never fails a pass."""
        try:
            return reaper.reap(self.home)
        except StateError as exc:
            log.error("could not reap what dead workers left: %s", exc.message)
            return reaper.Reaped()
        except Exception:  # a safety net must not stop the worker
            log.exception("reaping what dead workers left failed")
            return reaper.Reaped()

    def run_once(self) -> bool:
        """One pass. True when a job was run or a verdict posted. ``StateError`` when
        the queue cannot be written: the worker stops (exit 4)."""
        try:
            return self._pass()
        except QueueUnwritable as exc:
            log.error("the queue cannot be written, stopping this worker: %s", exc)
            raise StateError(exc.path, "the job queue") from None

    def _pass(self) -> bool:
        self.reap()
        try:
            self.queue.ingest_spool()
            published = self.publish_outbox()
            job = self.queue.claim(self.owner, lease_s=self.lease_s)
        except QueueUnwritable:
            raise  # waiting does not help: see run_once
        except QueueUnavailable as exc:
            log.warning("queue unavailable: %s", exc)
            return False
        if job is None:
            return published > 0
        self._run(job)
        return True

    def _refuse(self, job: Job, reason: str) -> None:
        """End a job before anything runs: one final ``error`` status with the reason."""
        log.error("job %s refused: %s", job.id, reason)
        data = {
            "status": "error",
            "summary": reason,
            "profile": "load",
            "report_markdown": "",
            "target_url": self._target_url(job),
        }
        if self.queue.finish(job.id, self.owner, result="error", summary=reason, outcome=data):
            self.publish_outbox()

    def _run(self, job: Job) -> None:
        if job.spec.clone_url:
            # Defence in depth: the intake checked it, but the job may predate that
            # check, or the configuration may have changed since.
            try:
                policy_for(job.spec, self.sources).check(job.spec.clone_url)
            except PlogError as exc:
                self._refuse(job, f"refused: {exc.message}")
                return
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
            retry: str | None = None  # an environmental fault: the job runs again
            try:
                with proc.recording(reaper.records_dir(self.home), job_id=job.id):
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
                if getattr(outcome, "retry", False):
                    retry = outcome.summary
            except StateError as exc:
                retry = exc.message
                data = {}
            except PlogError as exc:
                log.error("job %s failed: %s", job.id, exc)
                data = {
                    "status": "error",
                    "summary": exc.message[:500],
                    "profile": profile,
                    "report_markdown": "",
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
        if retry is not None:
            log.error(
                "job %s: %s; released to the queue for another attempt (this was %s)",
                job.id,
                retry.splitlines()[0],
                job.attempts,
            )
            self.queue.release(job.id, self.owner, retry, retry_in_s=self.lease_s)
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
