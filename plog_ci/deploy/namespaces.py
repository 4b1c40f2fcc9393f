"""A job's namespace on the cluster: its name, its labels, its expiry, and the reaper.

Every namespace PLog creates is named ``plog-<repo>-<pr-N | sha12>`` (a DNS label,
at most 63 characters; a name that had to be cut ends in a hash of the whole, so
two long repositories never share one) and carries, from its creation on:

- label ``app.kubernetes.io/managed-by=plog``: the only namespaces PLog ever deletes;
- label ``plog.dev/job=<run id>``, ``plog.dev/repo``, ``plog.dev/pr`` (pull requests);
- label ``plog.dev/expires-unix=<seconds>`` and annotation ``plog.dev/expires``
  (RFC 3339, UTC): after it, ``reap_namespaces`` removes the namespace whatever
  happened to the job (a killed worker, a lost connection).

So teardown cannot leak: the job deletes its namespace on every way out, and what a
killed job left expires.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Protocol

from plog_ci.deploy.kube import Namespace
from plog_ci.errors import ServiceError

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "plog"
JOB_LABEL = "plog.dev/job"
REPO_LABEL = "plog.dev/repo"
PR_LABEL = "plog.dev/pr"
EXPIRES_LABEL = "plog.dev/expires-unix"
EXPIRES_ANNOTATION = "plog.dev/expires"
SELECTOR = f"{MANAGED_BY}={MANAGER}"
MAX_NAME = 63  # a DNS label (RFC 1123), as Kubernetes requires of a namespace's name
HASH_CHARS = 8
NAME_TRIES = 3
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


class NamespaceApi(Protocol):
    """What the reaper and ``create_job_namespace`` need of ``kube.Cluster``."""

    def create_namespace(
        self, name: str, labels: dict[str, str], annotations: dict[str, str]
    ) -> bool: ...

    def read_namespace(self, name: str) -> Namespace | None: ...

    def namespaces(self, selector: str) -> list[Namespace]: ...

    def delete_namespace(self, name: str) -> bool: ...


def _label_text(text: str) -> str:
    """``text`` as DNS-label characters: accents dropped (Ü -> u), lower case, every
    other run of characters one ``-``, no ``-`` at either end."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_LABEL.sub("-", ascii_text.lower()).strip("-")


def repo_slug(repository: str) -> str:
    """The repository's name (its last path part, without ``.git``) as label text;
    ``repo`` when nothing is left."""
    name = PurePosixPath(repository.replace("\\", "/").rstrip("/")).name
    name = name.removesuffix(".git")
    return _label_text(name) or "repo"


def repo_label(repository: str) -> str:
    """The ``plog.dev/repo`` label's value for ``repository`` (at most 63 characters)."""
    return repo_slug(repository)[:MAX_NAME].rstrip("-") or "repo"


def job_suffix(pr_number: int | None, commit: str) -> str:
    """``pr-N`` for a pull request, else the commit's first 12 characters."""
    if pr_number is not None and pr_number > 0:
        return f"pr-{pr_number}"
    return _label_text(commit)[:12].strip("-") or "commit"


def namespace_name(repository: str, pr_number: int | None, commit: str) -> str:
    """``plog-<repo>-<pr-N|sha12>``, a DNS label of at most 63 characters. When the
    repository's part must be cut, the name ends in ``-<8 hex>`` of the uncut name."""
    slug, suffix = repo_slug(repository), job_suffix(pr_number, commit)
    name = f"plog-{slug}-{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:HASH_CHARS]
    room = MAX_NAME - len(f"plog--{suffix}-{digest}")
    return f"plog-{slug[:room].rstrip('-') or 'r'}-{suffix}-{digest}"


def with_tail(name: str, tail: str) -> str:
    """``name-tail``, ``name`` cut so that the whole stays a DNS label."""
    head = name[: MAX_NAME - len(tail) - 1].rstrip("-")
    return f"{head}-{tail}"


@dataclass(frozen=True)
class Expiry:
    """When a namespace may be reaped: ``unix`` seconds, and as RFC 3339 UTC text."""

    unix: int
    text: str


def expiry(now: float, ttl_s: float) -> Expiry:
    """The expiry of a namespace created at ``now`` (unix seconds) for ``ttl_s``."""
    unix = int(now + ttl_s)
    text = datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Expiry(unix, text)


def namespace_metadata(
    job: str, repository: str, pr_number: int | None, ends: Expiry
) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations of a job's namespace (see the module's docstring)."""
    labels = {
        MANAGED_BY: MANAGER,
        JOB_LABEL: _label_text(job)[:MAX_NAME] or "job",
        REPO_LABEL: repo_label(repository),
        EXPIRES_LABEL: str(ends.unix),
    }
    if pr_number is not None:
        labels[PR_LABEL] = str(pr_number)
    return labels, {EXPIRES_ANNOTATION: ends.text}


def expires_at(namespace: Namespace) -> int | None:
    """The namespace's expiry (unix seconds) from its label, else its annotation;
    None when neither can be read (such a namespace is never reaped)."""
    label = namespace.labels.get(EXPIRES_LABEL, "")
    if label.isdigit():
        return int(label)
    text = namespace.annotations.get(EXPIRES_ANNOTATION, "")
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def is_plogs(namespace: Namespace) -> bool:
    return namespace.labels.get(MANAGED_BY) == MANAGER


def create_job_namespace(
    api: NamespaceApi,
    name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> str:
    """Create the job's namespace, ``name`` if free; the name actually created.

    The name of a pull request's namespace repeats across its runs: when ``name`` is
    taken (an earlier run still tearing down, a killed one not yet expired, a run of
    another PLog) and not by this job, a random tail makes a fresh one; nothing that
    belongs to another job is touched. Raises ServiceError when no name is free."""
    candidate = name
    for _ in range(NAME_TRIES):
        if api.create_namespace(candidate, labels, annotations):
            return candidate
        found = api.read_namespace(candidate)
        if (
            found is not None
            and is_plogs(found)
            and found.phase != "Terminating"
            and found.labels.get(JOB_LABEL) == labels[JOB_LABEL]
            and found.labels.get(REPO_LABEL) == labels[REPO_LABEL]
        ):
            return candidate  # this very job made it (a retried step)
        candidate = with_tail(name, secrets.token_hex(3))
    raise ServiceError(
        f"could not create a namespace for the job: {name} and {NAME_TRIES - 1} variants are taken",
        hint="remove leftover namespaces (plog cluster reap removes expired ones)",
    )


def reap_namespaces(api: NamespaceApi, now: float) -> list[str]:
    """Delete PLog's namespaces (label app.kubernetes.io/managed-by=plog) whose expiry
    is at or before ``now`` (unix seconds); the names whose deletion this call asked
    for. Never any other namespace, nor a PLog namespace without a readable expiry.
    Races are fine: one already terminating or gone is skipped."""
    removed = []
    for namespace in api.namespaces(SELECTOR):
        # The selector is the server's filter; the label is checked again here.
        if not is_plogs(namespace) or namespace.phase == "Terminating":
            continue
        ends = expires_at(namespace)
        if ends is None or ends > now:
            continue
        if api.delete_namespace(namespace.name):
            removed.append(namespace.name)
    return sorted(removed)


def reap_pull_request(api: NamespaceApi, repository: str, pr_number: int) -> list[str]:
    """Delete the namespaces of a closed pull request (expired or not): those PLog
    labelled with this repository and pull request number. The names deleted."""
    wanted = {REPO_LABEL: repo_label(repository), PR_LABEL: str(pr_number)}
    selector = ",".join([SELECTOR, *(f"{k}={v}" for k, v in wanted.items())])
    removed = []
    for namespace in api.namespaces(selector):
        ours = is_plogs(namespace) and all(namespace.labels.get(k) == v for k, v in wanted.items())
        if ours and namespace.phase != "Terminating" and api.delete_namespace(namespace.name):
            removed.append(namespace.name)
    return sorted(removed)
