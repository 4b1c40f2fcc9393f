"""Turn verified webhook payloads (GitHub, Gitea/Forgejo) into job specs.

Only signed payloads reach this module, but their fields are still checked:
a wrong type or a malformed sha is a 400, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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


def _str(data: Any, *path: str) -> str:
    value = _get(data, *path)
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise PayloadError(f"field {'.'.join(path)} must be a non-empty string")
    return value


def _sha(data: Any, *path: str) -> str:
    value = _str(data, *path)
    if not _SHA.match(value):
        raise PayloadError(f"field {'.'.join(path)} is not a commit sha")
    return value


def _api_url(provider: str, repository: dict[str, Any], configured: str | None) -> str | None:
    if configured:
        return configured
    if provider == "gitea":
        html = repository.get("html_url")
        if isinstance(html, str) and html.startswith(("https://", "http://")):
            parts = urlsplit(html)
            return f"{parts.scheme}://{parts.netloc}/api/v1"
    return None


def from_push(provider: str, data: Any, *, api_url: str | None) -> JobSpec | Ignored:
    ref = _str(data, "ref")
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
    repository = _get(data, "repository")
    full_name = _str(data, "repository", "full_name")
    return JobSpec(
        repo=f"{provider}:{full_name}",
        head=head,
        branch=ref[len("refs/heads/") :],
        base=base,
        kind="push",
        forge=provider,
        forge_repo=full_name,
        forge_url=_api_url(provider, repository, api_url),
        clone_url=_str(data, "repository", "clone_url"),
    )


def from_pull_request(provider: str, data: Any, *, api_url: str | None) -> JobSpec | Ignored:
    action = _str(data, "action")
    if action not in PR_ACTIONS:
        return Ignored(f"pull_request action {action!r} needs no run")
    number = _get(data, "number")
    if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 2**31:
        raise PayloadError("field number must be a positive integer")
    head = _sha(data, "pull_request", "head", "sha")
    base = _sha(data, "pull_request", "base", "sha")
    base_repo = _str(data, "pull_request", "base", "repo", "full_name")
    head_repo_obj = _get(data, "pull_request", "head").get("repo")
    head_repo = head_repo_obj.get("full_name") if isinstance(head_repo_obj, dict) else None
    fork = head_repo != base_repo  # a deleted fork (repo: null) counts as a fork
    repository = _get(data, "repository")
    return JobSpec(
        repo=f"{provider}:{base_repo}",
        head=head,
        base=base,
        branch=_str(data, "pull_request", "head", "ref"),
        pr_number=number,
        kind="pull_request",
        forge=provider,
        forge_repo=base_repo,
        forge_url=_api_url(provider, repository, api_url),
        clone_url=_str(data, "repository", "clone_url"),
        allow_secrets=not fork,
        fork=fork,
    )
