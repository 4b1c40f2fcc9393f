"""What the Action runs (``python -m plog_ci.actions.run``) inside a GitHub or Gitea workflow.

It reads the event the workflow got (push or pull_request), runs the
pipeline on that commit, writes the report to the job summary and to a file
for the artifact step, exports the run's page as one HTML file next to it (``plog
export``: it opens offline, from the artifact), and posts the commit status and
the PR comment with the workflow's token (``PLOG_TOKEN``). Posting is best effort: a read-only
token (pull requests from forks) only costs a warning, never the verdict.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plog_ci.errors import ExitCode, PlogError
from plog_ci.forge import Report
from plog_ci.forge.rest import RestForge

_ZERO = "0" * 40
SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses step summaries over 1 MiB


@dataclass(frozen=True)
class Trigger:
    head: str
    base: str | None
    branch: str | None
    pr_number: int | None
    fork: bool


def trigger_from_env(env: Mapping[str, str]) -> Trigger:
    event: dict[str, Any] = {}
    path = env.get("GITHUB_EVENT_PATH")
    if path and Path(path).is_file():
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        event = loaded if isinstance(loaded, dict) else {}
    pr = event.get("pull_request")
    if env.get("GITHUB_EVENT_NAME", "").startswith("pull_request") and isinstance(pr, dict):
        head_repo = (pr.get("head") or {}).get("repo") or {}
        base_repo = (pr.get("base") or {}).get("repo") or {}
        return Trigger(
            head=str(pr["head"]["sha"]),
            base=str(pr["base"]["sha"]),
            branch=str(pr["head"].get("ref") or "") or None,
            pr_number=int(event.get("number") or pr["number"]),
            fork=head_repo.get("full_name") != base_repo.get("full_name"),
        )
    before = event.get("before")
    return Trigger(
        head=env["GITHUB_SHA"],
        base=before if isinstance(before, str) and before != _ZERO and before else None,
        branch=env.get("GITHUB_REF_NAME") or None,
        pr_number=None,
        fork=False,
    )


def forge_from_env(env: Mapping[str, str]) -> RestForge:
    flavor = "gitea" if env.get("GITEA_ACTIONS") == "true" else "github"
    return RestForge(
        flavor,
        env["GITHUB_REPOSITORY"],
        api_url=env.get("GITHUB_API_URL") or None,
        token=env.get("PLOG_TOKEN") or None,
    )


def _pipeline_run(repo: Path, trigger: Trigger) -> Any:
    # Imported here: the trigger checks and forge set-up run without the pipeline.
    from plog_ci.pipeline import RunRequest, run

    request = RunRequest(
        repo=repo,
        head=trigger.head,
        base=trigger.base,
        branch=trigger.branch,
        pr_number=trigger.pr_number,
        allow_secrets=not trigger.fork,
    )
    return run(request)


def export_html(env: Mapping[str, str], run_id: object, report_path: Path) -> Path | None:
    """Write run ``run_id``'s page as one HTML file next to the report
    (``plog-run-<id>.html``); its path, or None (no run recorded, or a warning on
    the log: the export never changes the verdict)."""
    if not isinstance(run_id, int):
        return None
    from plog_ci.commands.export import default_name, export_file, write_atomically
    from plog_ci.home import state_dir

    home = Path(env["PLOG_HOME"]) if env.get("PLOG_HOME") else None
    target = report_path.parent / default_name(run_id)
    try:
        write_atomically(
            target, export_file(state_dir(home, create=False) / "results.sqlite3", run_id)
        )
    except Exception as exc:  # the verdict stands whatever the export does
        why = exc.message if isinstance(exc, PlogError) else f"{type(exc).__name__}: {exc}"
        print(f"::warning::PLog could not export the run's page: {why}", file=sys.stderr)
        return None
    return target


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def main(
    env: Mapping[str, str] | None = None,
    *,
    run: Callable[[Path, Trigger], Any] = _pipeline_run,
    forge: RestForge | None = None,
) -> int:
    env = os.environ if env is None else env
    trigger = trigger_from_env(env)
    client = forge or forge_from_env(env)
    target_url = None
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_RUN_ID"):
        target_url = (
            f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/"
            f"{env['GITHUB_RUN_ID']}"
        )

    def post(what: str, call: Callable[[], None]) -> None:
        try:
            call()
        except PlogError as exc:
            print(f"::warning::PLog could not post the {what}: {exc.message}", file=sys.stderr)

    pending = Report(
        result="pending",
        profile="load",
        summary="",
        markdown="",
        head=trigger.head,
        target_url=target_url,
        pr_number=trigger.pr_number,
    )
    post("pending status", lambda: client.pending(pending))
    outcome = run(Path(env.get("GITHUB_WORKSPACE") or "."), trigger)
    markdown = str(outcome.report_markdown or outcome.summary)
    report_path = getattr(outcome, "report_path", None)
    if not report_path:
        report_path = Path(env.get("RUNNER_TEMP") or ".") / "plog-report.md"
        report_path.write_text(markdown, encoding="utf-8")
    html_path = export_html(env, getattr(outcome, "run_id", None), Path(report_path))
    _append(env.get("GITHUB_STEP_SUMMARY"), markdown[: SUMMARY_LIMIT - 1] + "\n")
    _append(
        env.get("GITHUB_OUTPUT"),
        f"status={outcome.status}\nexit-code={outcome.exit_code}\nreport-path={report_path}\n"
        f"html-path={html_path or ''}\n",
    )
    final = Report(
        result=str(outcome.status),
        profile=str(outcome.profile or "load"),
        summary=str(outcome.summary),
        markdown=markdown,
        head=trigger.head,
        target_url=target_url,
        branch=trigger.branch,
        pr_number=trigger.pr_number,
    )
    post("verdict", lambda: client.publish(final))
    print(f"plog: {outcome.status}: {outcome.summary}")
    code = int(outcome.exit_code)
    if code == ExitCode.GATE_FAILED and env.get("PLOG_FAIL_ON_GATE", "true") == "false":
        return int(ExitCode.OK)
    return code


if __name__ == "__main__":
    sys.exit(main())
