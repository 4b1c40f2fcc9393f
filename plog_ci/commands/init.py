"""``plog init``: write a commented plog.yml for the repository in the current folder
(or ``--repo``), validate it as ``plog validate`` does, and offer a smoke run.

It reads the repository (``plog_ci.config.project_scan``: the spec, a Procfile, a
Containerfile/Dockerfile, package.json, pyproject.toml, requirements.txt) and runs
nothing it finds. What it cannot find it asks for on a terminal; without one (or with
``--no-input``) it writes a ``TODO:`` placeholder that ``plog validate`` refuses at
its key and line. An existing plog.yml is kept unless ``--force``.

Exit status: 0 when the file is written and valid (with ``--run``: the smoke run's
status, as ``plog run``'s), 2 when it still needs editing or cannot be written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plog_ci.commands._output import err_console
from plog_ci.errors import ConfigError, ExitCode, InputError

if TYPE_CHECKING:
    from plog_ci.config.project_scan import Finding, Scan


@click.command("init")
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="The repository to look at.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing plog.yml.")
@click.option(
    "--run",
    "smoke",
    is_flag=True,
    help="Then run a 5 s smoke test of every operation (the working tree as it is, "
    "with the new plog.yml, in a temporary copy).",
)
@click.option("--no-input", is_flag=True, help="Never ask; write placeholders instead.")
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="State directory for the smoke run (default: as plog run).",
)
@click.pass_context
def init(
    ctx: click.Context, repo: Path, force: bool, smoke: bool, no_input: bool, home: Path | None
) -> None:
    """Write a plog.yml for this repository from what it holds, and check it."""
    from plog_ci.config.init_writer import document, dump
    from plog_ci.config.project_scan import scan

    root = repo.resolve()
    if not root.is_dir():
        raise InputError(f"{repo}: no such directory", hint="give --repo the repository")
    target = root / "plog.yml"
    if (target.exists() or target.is_symlink()) and not force:
        raise ConfigError(
            f"{target}: already exists; plog init keeps it",
            hint="check it with plog validate, or pass --force to write a new one",
        )
    found = scan(root)
    interactive = not no_input and sys.stdin.isatty()
    if interactive:
        _ask(found)
    doc = document(found)
    if target.is_symlink():
        target.unlink()  # --force: never write through a link
    target.write_text(dump(doc), encoding="utf-8")
    _summary(found, target)
    if not _valid(ctx, target):
        sys.exit(ExitCode.INVALID_INPUT)
    if not smoke and interactive:
        smoke = click.confirm("Run a 5 s smoke test now?", default=True, err=True)
    if not smoke:
        click.echo("next: plog run (after committing plog.yml)", err=True)
        return
    from plog_ci.commands._init_smoke import smoke_run
    from plog_ci.commands.run import print_outcome

    outcome = smoke_run(root, doc, home)
    print_outcome(outcome)
    sys.exit(outcome.exit_code)


def _ask(found: Scan) -> None:
    """On a terminal: ask for what the scan did not find."""
    from plog_ci.config.project_scan import Finding

    if found.run is None:
        if found.run_shell is not None:
            from plog_ci.config.init_writer import shell_comment

            click.echo(shell_comment(found.run_shell), err=True)
        text = click.prompt(
            "The command that starts your service ({port} is the port PLog picks; no shell "
            "runs it)",
            err=True,
        ).strip()
        if text:
            found.run, found.run_shell = Finding(text, "your answer to plog init"), None
    if found.spec is None:
        text = click.prompt("The path of your OpenAPI or Swagger file", err=True).strip()
        if text:
            found.spec = Finding(text, "your answer to plog init")


def _summary(found: Scan, target: Path) -> None:
    """What was found, guessed or left to do, one line each."""
    out = err_console()
    out.print(f"wrote {target}", markup=False)
    rows: list[tuple[str, Finding | None]] = [
        ("openapi", found.spec),
        ("service.run", found.run),
        ("service.setup", found.setup),
        ("service.port", found.port),
        ("service.health", found.health),
        ("load.auth", found.auth),
    ]
    if found.run_shell is not None:
        from plog_ci.config.init_writer import shell_comment

        out.print(f"  TODO     service.run: {shell_comment(found.run_shell)}", markup=False)
    for key, item in rows:
        if key == "service.run" and found.run_shell is not None:
            continue
        if item is None:
            if key in ("openapi", "service.run"):
                out.print(f"  TODO     {key}: not found; replace the placeholder", markup=False)
            continue
        value = item.value if not isinstance(item.value, list) else " && ".join(item.value)
        if key == "load.auth":
            from plog_ci.config.auth_guess import describe

            value = describe(item.value)
        kind = "guessed" if item.guessed else "found"
        out.print(f"  {kind:<8} {key}: {value}  ({item.source})", markup=False)
    for warning in found.warnings:
        out.print(f"  warning: {warning}", markup=False)


def _valid(ctx: click.Context, target: Path) -> bool:
    """``plog validate`` on the new file (its own output); whether it passed."""
    from plog_ci.commands.validate import validate

    try:
        ctx.invoke(validate, path=target)
    except SystemExit as exc:
        return exc.code in (0, None)
    return True
