"""``plog run``: the pipeline on one commit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plog_ci.commands._output import err_console, out_console
from plog_ci.dashboard_link import ENV, run_url
from plog_ci.dashboard_link import dashboard_url as checked_url
from plog_ci.errors import InputError

if TYPE_CHECKING:
    from plog_ci.pipeline import RunOutcome


@click.command("run")
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
    help="State directory (default: $PLOG_HOME, else $XDG_DATA_HOME/plog, else "
    "~/.local/share/plog).",
)
@click.option(
    "--dashboard-url",
    default=None,
    envvar=ENV,
    help="Base URL of the dashboard (plog serve) that shows this state directory's runs: "
    f"the report links the run's page. Env: {ENV}.",
)
def run_cmd(
    repo: Path,
    head: str,
    base: str | None,
    branch: str | None,
    home: Path | None,
    dashboard_url: str | None,
) -> None:
    """Load-test HEAD (or --head) of a repository and evaluate the gates."""
    from plog_ci.pipeline import RunRequest, run

    try:
        base_url = checked_url(dashboard_url)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--dashboard-url") from None
    outcome = run(
        RunRequest(
            repo=repo, head=head, base=base, branch=branch, home=home, dashboard_url=base_url
        ),
        console=err_console(),
    )
    print_outcome(outcome, base_url)
    if outcome.narration is not None:  # after the verdict: the narrative costs the gate nothing
        from plog_ci.report.narration import describe, narrated

        outcome, narrative = narrated(outcome)
        if narrative is not None:
            out_console().print(describe(narrative), markup=False, highlight=False)
    sys.exit(outcome.exit_code)


def print_outcome(outcome: RunOutcome, dashboard: str | None = None) -> None:
    """The verdict line (coloured) and where the report went."""
    out = out_console()
    colour = {"pass": "green", "fail": "red", "no-verdict": "yellow"}.get(outcome.status, "red")
    label = outcome.status.upper()
    out.print(f"[bold {colour}]{label}[/] {outcome.head_sha[:12]}: ", end="")
    out.print(outcome.summary, markup=False)
    if outcome.report_path:
        out.print(f"report: {outcome.report_path}", markup=False)
    page = run_url(dashboard, outcome.run_id)
    if page:
        out.print(f"dashboard: {page}", markup=False)
