"""The plog command line.

Exit codes: 0 pass, 1 a gate failed, 2 invalid config or input, 3 internal
error, 4 missing tool or unreachable dependency (see ``plog_ci.errors``).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click
from rich.console import Console

from plog_ci import __version__, proc
from plog_ci.errors import ConfigError, ExitCode, PlogError

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


@click.group()
@click.version_option(__version__, prog_name="plog")
def cli() -> None:
    """PLog CI: load-test what a commit changed and post the verdict back."""


@cli.command()
@click.argument("path", required=False, default="plog.yml", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check plog.yml (default: ./plog.yml). Exit 0 when valid, 2 with every problem."""
    from plog_ci.config import load_config

    try:
        load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        if exc.hint and len(exc.errors) == 1:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(ExitCode.INVALID_INPUT)
    click.echo(f"{path}: valid")


@cli.command("run")
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Git repository (work tree or bare).",
)
@click.option("--head", default="HEAD", show_default=True, help="Revision to test.")
@click.option("--base", default=None, help="Revision to diff against (default: head's parent).")
@click.option("--branch", default=None, help="Branch name to record with the run.")
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="State directory (default: $PLOG_HOME or ~/.local/share/plog).",
)
def run_cmd(repo: Path, head: str, base: str | None, branch: str | None, home: Path | None) -> None:
    """Load-test HEAD (or --head) of a repository and evaluate the gates."""
    from plog_ci.pipeline import RunRequest, run

    outcome = run(
        RunRequest(repo=repo, head=head, base=base, branch=branch, home=home), console=err_console
    )
    _print_outcome(outcome)
    sys.exit(outcome.exit_code)


def _print_outcome(outcome: object) -> None:
    from plog_ci.pipeline import RunOutcome

    assert isinstance(outcome, RunOutcome)
    colour = {"pass": "green", "fail": "red", "no-verdict": "yellow"}.get(outcome.status, "red")
    label = outcome.status.upper()
    out_console.print(f"[bold {colour}]{label}[/] {outcome.head_sha[:12]}: ", end="")
    out_console.print(outcome.summary, markup=False)
    if outcome.report_path:
        out_console.print(f"report: {outcome.report_path}", markup=False)


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to build the demo repository (default: a new temp dir).",
)
def demo(workdir: Path | None) -> None:
    """Build a throwaway repo from examples/petstore and gate two commits."""
    from plog_ci.demo import run_demo

    sys.exit(run_demo(workdir, console=err_console, out=out_console))


# Commands that live in their own modules.
from plog_ci.cli_diff import diff_command  # noqa: E402
from plog_ci.cli_gen import gen  # noqa: E402
from plog_ci.cli_git import register as register_git_commands  # noqa: E402
from plog_ci.cli_results import compare_command, history_command  # noqa: E402

cli.add_command(diff_command)
cli.add_command(gen)
cli.add_command(compare_command)
cli.add_command(history_command)
register_git_commands(cli)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C so every finally-block stops its children.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        proc.stop_all()
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.INVALID_INPUT)
    except KeyboardInterrupt:
        proc.stop_all()
        err_console.print("interrupted; stopped everything PLog started")
        sys.exit(ExitCode.INTERRUPTED)
    except PlogError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    finally:
        proc.stop_all()
