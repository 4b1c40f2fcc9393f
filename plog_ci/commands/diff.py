"""``plog diff BASE REVISION``: the API changes between two specs.

Each side is a file path or ``REV:path`` read from git without a checkout
(``plog diff main:openapi.yaml HEAD:openapi.yaml``). Exit codes: 0 when no
change reaches ``--fail-on`` (default: error), 1 when one does, 2 for bad
input (a spec that cannot be loaded safely).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plog_ci.errors import ExitCode, InputError, PlogError

if TYPE_CHECKING:
    from plog_ci.openapi.model import Spec


def load_side(arg: str, repo_path: Path, allow_hosts: tuple[str, ...]) -> Spec:
    """A file if one exists at ``arg``; otherwise ``REV:path`` in the repository."""
    from plog_ci.gitrepo import GitRepo
    from plog_ci.openapi.load import load_spec_file, load_spec_from_git

    file = Path(arg)
    if file.is_file():
        try:
            root = Path(GitRepo(file.absolute().parent).path)
        except InputError:
            root = file.absolute().parent
        return load_spec_file(file, root=root, allow_hosts=allow_hosts)
    rev, sep, path = arg.partition(":")
    if not sep or not rev or not path:
        raise InputError(
            f"{arg}: no such file, and not written REV:path",
            hint="give a spec file, or a revision and a path such as main:openapi.yaml",
        )
    return load_spec_from_git(GitRepo(repo_path), rev, path, allow_hosts)


@click.command("diff")
@click.argument("base")
@click.argument("revision")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="Output: a changelog for reviewers, or JSON for tools.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info", "never"]),
    default="error",
    show_default=True,
    help="Exit 1 when a change at this level or above is found.",
)
@click.option(
    "--repo",
    "repo_path",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Repository for REV:path sides.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="Host that remote $refs may be fetched from (default: none).",
)
def diff_command(
    base: str, revision: str, fmt: str, fail_on: str, repo_path: Path, allow_hosts: tuple[str, ...]
) -> None:
    """Show the API changes from BASE to REVISION (each a file or REV:path)."""
    from plog_ci.openapi.changelog import render
    from plog_ci.openapi.diff import diff_specs

    try:
        base_spec = load_side(base, repo_path, allow_hosts)
        head_spec = load_side(revision, repo_path, allow_hosts)
    except PlogError as exc:
        click.echo(f"plog diff: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    for warning in (*base_spec.warnings, *head_spec.warnings):
        click.echo(f"warning: {warning}", err=True)
    result = diff_specs(base_spec, head_spec)
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(render(result), nl=False)
    if fail_on != "never" and result.at_least(fail_on):
        sys.exit(int(ExitCode.GATE_FAILED))
