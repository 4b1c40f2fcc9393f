"""GitHub and Gitea (and Forgejo) REST clients for commit statuses and PR comments.

Endpoints used (GitHub REST 2022-11-28; Gitea API v1):

==========================  ===========================================================
commit status               POST {api}/repos/{owner}/{repo}/statuses/{sha}
list PR comments            GET  {api}/repos/{owner}/{repo}/issues/{n}/comments
create PR comment           POST {api}/repos/{owner}/{repo}/issues/{n}/comments
update PR comment           PATCH {api}/repos/{owner}/{repo}/issues/comments/{id}
==========================  ===========================================================

``{api}`` is ``https://api.github.com`` for GitHub and ``https://HOST/api/v1``
for Gitea. Tokens come from the environment: ``PLOG_GITHUB_TOKEN`` (else
``GITHUB_TOKEN``), ``PLOG_GITEA_TOKEN`` (else ``GITEA_TOKEN``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from plog_ci.errors import InputError
from plog_ci.forge import Report
from plog_ci.forge.api import ApiClient
from plog_ci.forge.comment import (
    MARKER,
    MAX_DESCRIPTION_CHARS,
    render_comment,
    safe_url,
    status_context,
    status_description,
)
from plog_ci.templating import plain_text

GITHUB_API = "https://api.github.com"
_MAX_PAGES = 50
_PER_PAGE = 100


def token_from_env(flavor: str) -> str | None:
    names = (
        ("PLOG_GITHUB_TOKEN", "GITHUB_TOKEN")
        if flavor == "github"
        else ("PLOG_GITEA_TOKEN", "GITEA_TOKEN")
    )
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class RestForge:
    def __init__(
        self,
        flavor: str,
        repo: str,
        *,
        api_url: str | None = None,
        token: str | None = None,
        sleep: Callable[[float], None] | None = None,
        attempts: int = 5,
    ) -> None:
        if flavor not in ("github", "gitea"):
            raise InputError(f"unknown forge {flavor!r}", hint="use 'github' or 'gitea'")
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise InputError(f"forge repository {repo!r} must look like OWNER/NAME")
        if flavor == "gitea" and not api_url:
            raise InputError(
                "a Gitea forge needs its API URL", hint="e.g. https://gitea.example.com/api/v1"
            )
        self.flavor = flavor
        self._prefix = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        tok = token if token is not None else token_from_env(flavor)
        headers = (
            {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
            if flavor == "github"
            else {}
        )
        kwargs: dict[str, Any] = {"attempts": attempts}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.api = ApiClient(
            api_url or GITHUB_API,
            token=tok,
            auth_scheme="Bearer" if flavor == "github" else "token",
            headers=headers,
            name=flavor,
            **kwargs,
        )

    def close(self) -> None:
        self.api.close()

    def set_status(
        self, sha: str, *, state: str, context: str, description: str, target_url: str | None
    ) -> None:
        body: dict[str, Any] = {
            "state": state,
            "context": context,
            "description": plain_text(description, MAX_DESCRIPTION_CHARS),
        }
        url = safe_url(target_url)
        if url:
            body["target_url"] = url
        self.api.request("POST", f"{self._prefix}/statuses/{quote(sha, safe='')}", json=body)

    def _comments(self, number: int) -> list[dict[str, Any]]:
        path = f"{self._prefix}/issues/{number}/comments"
        if self.flavor == "gitea":
            data = self.api.request("GET", path).json()
            return [c for c in data if isinstance(c, dict)] if isinstance(data, list) else []
        found: list[dict[str, Any]] = []
        for page in range(1, _MAX_PAGES + 1):
            data = self.api.request(
                "GET", path, params={"per_page": _PER_PAGE, "page": page}
            ).json()
            if not isinstance(data, list):
                break
            found.extend(c for c in data if isinstance(c, dict))
            if len(data) < _PER_PAGE:
                break
        return found

    def upsert_comment(self, number: int, body: str) -> int:
        """Update the comment that carries the marker, or create it. Returns its id."""
        for comment in self._comments(number):
            if MARKER in str(comment.get("body") or "") and isinstance(comment.get("id"), int):
                cid = int(comment["id"])
                self.api.request(
                    "PATCH", f"{self._prefix}/issues/comments/{cid}", json={"body": body}
                )
                return cid
        created = self.api.request(
            "POST", f"{self._prefix}/issues/{number}/comments", json={"body": body}
        ).json()
        return int(created.get("id", 0)) if isinstance(created, dict) else 0

    # -- the Forge protocol ---------------------------------------------------

    def pending(self, report: Report) -> None:
        self.set_status(
            report.head,
            state="pending",
            context=status_context(report),
            description="PLog is load-testing this commit",
            target_url=report.target_url,
        )

    def publish(self, report: Report) -> None:
        self.set_status(
            report.head,
            state=report.state,
            context=status_context(report),
            description=status_description(report),
            target_url=report.target_url,
        )
        if report.pr_number is not None:
            self.upsert_comment(report.pr_number, render_comment(report))
