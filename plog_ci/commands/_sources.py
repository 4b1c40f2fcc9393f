"""The options ``plog serve`` and ``plog worker`` share: what may be fetched, where tokens go.

Each option adds to its environment variable (``PLOG_ALLOW_REPOS`` and the
others, space- or comma-separated), so both processes can share one
environment file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])


def source_options(func: F) -> F:
    """Add the options; the command receives ``api_url`` and ``sources`` (a SourcePolicy
    built from the environment and the options, a UsageError when invalid)."""

    @functools.wraps(func)
    def with_policy(
        *args: Any,
        allow_repos: tuple[str, ...],
        allow_hosts: tuple[str, ...],
        allow_nets: tuple[str, ...],
        allow_ssh: bool,
        allow_http_loopback: bool,
        **kwargs: Any,
    ) -> Any:
        kwargs["sources"] = policy_from_options(
            api_url=kwargs["api_url"],
            allow_repos=allow_repos,
            allow_hosts=allow_hosts,
            allow_nets=allow_nets,
            allow_ssh=allow_ssh,
            allow_http_loopback=allow_http_loopback,
        )
        return func(*args, **kwargs)

    command: Callable[..., Any] = with_policy
    options = [
        click.option(
            "--api-url",
            default=None,
            envvar="PLOG_FORGE_API_URL",
            help="Forge API base URL, the only place tokens are sent (required for Gitea, "
            "e.g. https://gitea.example.com/api/v1; default for GitHub: "
            "https://api.github.com). Env: PLOG_FORGE_API_URL.",
        ),
        click.option(
            "--allow-repo",
            "allow_repos",
            multiple=True,
            metavar="PATTERN",
            help="A repository the worker may fetch, as a URL pattern "
            "(https://github.com/myorg/*); repeatable. Env: PLOG_ALLOW_REPOS.",
        ),
        click.option(
            "--allow-forge-host",
            "allow_hosts",
            multiple=True,
            metavar="HOST[:PORT]",
            help="Any repository on this forge host may be fetched over https; repeatable. "
            "Default with no --allow-repo/--allow-forge-host: the forge's own host. "
            "Env: PLOG_ALLOW_FORGE_HOSTS.",
        ),
        click.option(
            "--allow-net",
            "allow_nets",
            multiple=True,
            metavar="CIDR",
            help="Addresses a forge may resolve to although loopback, link-local or private "
            "(an internal Gitea: 10.0.0.0/8); repeatable. Env: PLOG_ALLOW_NETS.",
        ),
        click.option(
            "--allow-ssh",
            is_flag=True,
            help="Also fetch ssh:// and git@host:path URLs. Env: PLOG_ALLOW_SSH=1.",
        ),
        click.option(
            "--allow-http-loopback",
            is_flag=True,
            help="Allow plain http to loopback addresses only (test forges). "
            "Env: PLOG_ALLOW_HTTP_LOOPBACK=1.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return cast(F, command)


def policy_from_options(
    *,
    api_url: str | None,
    allow_repos: tuple[str, ...],
    allow_hosts: tuple[str, ...],
    allow_nets: tuple[str, ...],
    allow_ssh: bool,
    allow_http_loopback: bool,
) -> Any:
    """The SourcePolicy: the environment plus the options (a UsageError when invalid)."""
    from plog_ci.errors import PlogError
    from plog_ci.forge.sources import SourcePolicy, api_url_allowed

    try:
        policy = SourcePolicy.from_env().merged(
            repos=allow_repos,
            hosts=allow_hosts,
            nets=allow_nets,
            allow_ssh=allow_ssh,
            allow_http_loopback=allow_http_loopback,
            api_url=api_url,
        )
    except PlogError as exc:
        raise click.UsageError(str(exc)) from exc
    if policy.api_url:
        why = api_url_allowed(policy.api_url, allow_http_loopback=policy.allow_http_loopback)
        if why:
            raise click.UsageError(f"--api-url {policy.api_url!r} cannot be used: {why}")
    return policy
