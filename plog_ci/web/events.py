"""Turn verified webhook payloads (GitHub, Gitea/Forgejo) into job specs.

Only signed payloads reach this module, but their fields are still checked:
a wrong type or a malformed sha is a 400, never a 500.

Where statuses go is configuration (``api_url``), never the payload: the
repository's ``html_url`` is not read. Where the code is fetched from is
checked against the allow-list (``plog_ci.forge.sources``) by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from plog_ci.queue import JobSpec

_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_ZERO = re.compile(r"^0+$")
PR_ACTIONS = frozenset({"opened", "synchronize", "synchronized", "reopened"})


class PayloadError(ValueError):
    """A signed payload without the fields its event needs."""


@dataclass(frozen=True)
class Ignored:
    reason: str


def _get(data: Any, *path: str) -> Any:
    node = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise PayloadError(f"missing field {'.'.join(path)}")
        node = node[key]
    return node


def _str(data: Any, *path: str, raw_bytes: bool = False) -> str:
    """A non-empty string field. ``raw_bytes``: it may carry bytes that are not UTF-8
    (surrogate-escaped, as git branch names may); other lone surrogates never pass."""
    value = _get(data, *path)
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise PayloadError(f"field {'.'.join(path)} must be a non-empty string")
    try:
        value.encode("utf-8", "surrogateescape" if raw_bytes else "strict")
    except UnicodeEncodeError:
        raise PayloadError(f"field {'.'.join(path)} is not valid text") from None
    if "\x00" in value:
        raise PayloadError(f"field {'.'.join(path)} contains a NUL character")
    return value


def _sha(data: Any, *path: str) -> str:
    value = _str(data, *path)
    if not _SHA.match(value):
        raise PayloadError(f"field {'.'.join(path)} is not a commit sha")
    return value


def _api_url(provider: str, configured: str | None) -> str | None:
    """The configured API base; GitHub's default when none is. Never the payload's."""
    if configured:
        return configured
    if provider == "gitea":
        raise PayloadError(
            "no Gitea API URL is configured (plog serve --forge gitea --api-url URL); "
            "statuses are never sent to a host the payload names"
        )
    return None


def from_push(provider: str, data: Any, *, api_url: str | None) -> JobSpec | Ignored:
    if not isinstance(data, dict):
        raise PayloadError("payload must be a JSON object")
    ref = _str(data, "ref", raw_bytes=True)
    after = _str(data, "after")
    if data.get("deleted") is True or _ZERO.match(after):
        return Ignored("branch or tag deleted")
    if not ref.startswith("refs/heads/"):
        return Ignored("not a branch push")
    head = _sha(data, "after")
    before = data.get("before")
    base = (
        before
        if isinstance(before, str)
        and _SHA.match(before)
        and not _ZERO.match(before)
        and data.get("forced") is not True
        else None
    )
    full_name = _str(data, "repository", "full_name")
    return JobSpec(
        repo=f"{provider}:{full_name}",
        head=head,
        branch=ref[len("refs/heads/") :],
        base=base,
        kind="push",
        forge=provider,
        forge_repo=full_name,
        forge_url=_api_url(provider, api_url),
        clone_url=_str(data, "repository", "clone_url"),
    )


def from_pull_request(provider: str, data: Any, *, api_url: str | None) -> JobSpec | Ignored:
    if not isinstance(data, dict):
        raise PayloadError("payload must be a JSON object")
    action = _str(data, "action")
    if action not in PR_ACTIONS and action != "closed":
        return Ignored(f"pull_request action {action!r} needs no run")
    number = _get(data, "number")
    if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 2**31:
        raise PayloadError("field number must be a positive integer")
    head = _sha(data, "pull_request", "head", "sha")
    base = _sha(data, "pull_request", "base", "sha")
    base_repo = _str(data, "pull_request", "base", "repo", "full_name")
    head_obj = _get(data, "pull_request", "head")
    head_repo_obj = head_obj.get("repo") if isinstance(head_obj, dict) else None
    head_repo = head_repo_obj.get("full_name") if isinstance(head_repo_obj, dict) else None
    fork = head_repo != base_repo  # a deleted fork (repo: null) counts as a fork
    return JobSpec(
        # closed (merged or not): no run; the worker removes the PR's job namespaces
        # (helm target) once what runs in its lane has ended, and pending runs go.
        kind="teardown" if action == "closed" else "pull_request",
        repo=f"{provider}:{base_repo}",
        head=head,
        base=base,
        branch=_str(data, "pull_request", "head", "ref", raw_bytes=True),
        pr_number=number,
        forge=provider,
        forge_repo=base_repo,
        forge_url=_api_url(provider, api_url),
        clone_url=_str(data, "repository", "clone_url"),
        allow_secrets=not fork,
        fork=fork,
    )
