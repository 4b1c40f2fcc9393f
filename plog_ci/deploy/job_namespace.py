"""The namespace of one job on the cluster, shared by its sides (head and base).

The first side to enter creates it (``namespaces.create_job_namespace``: name,
labels, expiry) and, inside PLog's chart, binds the job ClusterRole there to PLog's
service account; each side leaves it from its teardown, and the last one out
deletes it, with everything in it. A job is keyed by (state directory, run id).
A deletion that fails is logged, not raised: the expiry lets the reaper remove it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from plog_ci.deploy import kube, namespaces
from plog_ci.errors import PlogError

ROLE_BINDING = "plog-job"
_log = logging.getLogger(__name__)
Connect = Callable[[kube.Access], kube.Cluster]
JobKey = tuple[str, int]


class JobWhere(Protocol):
    """What ``target.Where`` says of the side and its job (read here)."""

    @property
    def commit(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def run_id(self) -> int: ...
    @property
    def home(self) -> Path: ...
    @property
    def repository(self) -> str: ...
    @property
    def pr_number(self) -> int | None: ...


@dataclass
class Job:
    """A job's namespace while a side uses it: the cluster connection, its name."""

    access: kube.Access
    cluster: kube.Cluster
    namespace: str
    sides: int


_JOBS: dict[JobKey, Job] = {}
_JOBS_LOCK = threading.Lock()


def job_key(where: JobWhere) -> JobKey:
    return (str(where.home), int(where.run_id))


def enter_job(where: JobWhere, ttl_s: float, connect: Connect, now: float) -> Job:
    """The job's namespace (created by its first side, expiring ``ttl_s`` after
    ``now``). Raises DependencyError (no access, an API refusal) or ServiceError (no
    free name); nothing is left behind then."""
    key = job_key(where)
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        if job is not None:
            job.sides += 1
            return job
        access = kube.access_from_env()
        cluster = connect(access)
        try:
            name = namespaces.namespace_name(where.repository, where.pr_number, where.commit)
            labels, notes = namespaces.namespace_metadata(
                str(where.run_id), where.repository, where.pr_number, namespaces.expiry(now, ttl_s)
            )
            created = namespaces.create_job_namespace(cluster, name, labels, notes)
        except BaseException:
            cluster.close()
            raise
        try:
            role = access.job_role
            if role is not None:
                cluster.bind_cluster_role(
                    created, ROLE_BINDING, role.role, role.account, role.account_namespace
                )
        except BaseException:
            _delete(cluster, created)
            raise
        job = _JOBS[key] = Job(access, cluster, created, 1)
        return job


def leave_job(where: JobWhere) -> None:
    """One side less; the last one deletes the namespace. Idempotent past the last."""
    key = job_key(where)
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        if job is None:
            return
        job.sides -= 1
        if job.sides > 0:
            return
        del _JOBS[key]
    _delete(job.cluster, job.namespace)


def _delete(cluster: kube.Cluster, namespace: str) -> None:
    try:
        cluster.delete_namespace(namespace)
    except PlogError as exc:  # it expires: the reaper removes it later
        _log.warning("deleting namespace %s: %s (its expiry lets the reaper remove it)",
                     namespace, exc.message)  # fmt: skip
    finally:
        cluster.close()
