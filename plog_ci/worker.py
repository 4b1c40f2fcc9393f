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
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from plog_ci import proc, reaper
from plog_ci.dashboard_link import run_url
from plog_ci.deploy.target import (
    reap_expired_namespaces,
    reap_leftover_containers,
    reap_pull_request_namespaces,
)
from plog_ci.errors import InputError, PlogError, StateError
from plog_ci.forge import Report
from plog_ci.forge.sources import SourcePolicy
from plog_ci.home import state_dir
from plog_ci.job_runner import (
    ForgeFactory,
    JobRunner,
    ProfileFinder,
    default_forge,
    pipeline_runner,
    policy_for,
    profile_from_config,
)
from plog_ci.queue import (
    DEFAULT_LEASE_S,
    Job,
    Queue,
    QueueUnavailable,
    QueueUnwritable,
)

log = logging.getLogger("plog.worker")
# How often a worker removes the expired job namespaces of the helm target (the
# namespaces of jobs whose worker died before its teardown; ``deploy.helm.ttl``).
NAMESPACE_REAP_EVERY_S = 300.0


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
        self.dashboard_url = dashboard_url.rstrip("/") if dashboard_url else None
        self.forge_factory: ForgeFactory = forge_factory or functools.partial(
            default_forge, sources=self.sources
        )
        if runner is pipeline_runner:
            # the runner posts the verdict before the narrative: with this worker's forge
            runner = functools.partial(
                pipeline_runner,
                sources=self.sources,
                dashboard_url=self.dashboard_url,
                forge_factory=self.forge_factory,
            )
        if profile_for is profile_from_config:
            profile_for = functools.partial(profile_from_config, sources=self.sources)
        self.runner = runner
        self.profile_for = profile_for
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stopping = threading.Event()
        self.containers_reaped = False
        self.namespaces_reaped_at: float | None = None

    def _target_url(self, job: Job) -> str | None:
        return f"{self.dashboard_url}/jobs/{job.id}" if self.dashboard_url else None

    def publish_outbox(self) -> int:
        """Post verdicts that were recorded but not posted yet. Returns how many were."""
        done = 0
        for job in self.queue.unpublished():
            if job.spec.kind == "teardown":  # no run: nothing to post on the forge
                self.queue.mark_published(job.id)
                done += 1
                continue
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
            if not self.containers_reaped:  # once per worker, beside its first jobs
                self.containers_reaped = True
                threading.Thread(
                    target=self._reap_containers, name="plog-reap-containers", daemon=True
                ).start()
            now = time.monotonic()
            last = self.namespaces_reaped_at
            if last is None or now - last >= NAMESPACE_REAP_EVERY_S:
                self.namespaces_reaped_at = now
                threading.Thread(
                    target=self._reap_namespaces, name="plog-reap-namespaces", daemon=True
                ).start()
            return reaper.reap(self.home)
        except StateError as exc:
            log.error("could not reap what dead workers left: %s", exc.message)
            return reaper.Reaped()
        except Exception:  # a safety net must not stop the worker
            log.exception("reaping what dead workers left failed")
            return reaper.Reaped()

    def _reap_containers(self) -> None:
        """Containers a killed run of this state directory left (podman target). On a
        thread: asking podman takes seconds on a busy machine, and a worker must claim
        its first job at once (a podman job reaps again before it deploys)."""
        try:
            removed = reap_leftover_containers(self.home)
        except Exception:  # a safety net must not stop the worker
            log.exception("removing containers that killed runs left failed")
            return
        if removed:
            log.info("removed %d container(s) that killed runs left", len(removed))

    def _reap_namespaces(self) -> None:
        """Expired job namespaces on the cluster the installation names (helm target);
        on a thread: the cluster may be slow to answer, a job must not wait for it."""
        try:
            removed = reap_expired_namespaces()
        except PlogError as exc:
            log.warning("could not remove expired job namespaces: %s", exc.message)
            return
        except Exception:  # a safety net must not stop the worker
            log.exception("removing expired job namespaces failed")
            return
        for name in removed:
            log.info("removed expired job namespace %s", name)

    def _teardown(self, job: Job) -> None:
        """A closed pull request: remove its job namespaces. Nothing is posted (no run
        took place); the job ends ``pass``, or ``error`` with the reason in the log."""
        spec = job.spec
        assert spec.pr_number is not None
        try:
            removed = reap_pull_request_namespaces(spec.forge_repo or spec.repo, spec.pr_number)
            result, summary = "pass", f"pull request closed: removed {len(removed)} namespace(s)"
        except PlogError as exc:
            log.error("job %s: %s", job.id, exc.message)
            result, summary = "error", f"pull request closed: {exc.message}"[:500]
        log.info("job %s: %s", job.id, summary)
        self.queue.finish(job.id, self.owner, result=result, summary=summary, outcome={})
        self.publish_outbox()

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
        if job.spec.kind == "teardown" and job.spec.pr_number is not None:
            self._teardown(job)
            return
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
                    # The final status links the run's page once there is a run.
                    "target_url": run_url(self.dashboard_url, getattr(outcome, "run_id", None))
                    or target_url,
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
