"""The pipeline: the only module that knows the order of the stages.

config → spec diff → deploy → k6 → store → gates → report → teardown.
``run()`` never raises for a PlogError: every run ends with one final status.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from plog_ci import __version__
from plog_ci.analysis.gates import Verdict, evaluate
from plog_ci.config import Config, parse_config
from plog_ci.deploy.process import ServiceProcess
from plog_ci.errors import ExitCode, InputError, InternalError, PlogError
from plog_ci.gitrepo import GitRepo
from plog_ci.home import state_dir
from plog_ci.loadgen.script import generate
from plog_ci.openapi.load import load_spec_from_git
from plog_ci.openapi.model import Spec
from plog_ci.openapi.select import select_operations, simple_diff
from plog_ci.report.markdown import ReportData, render_markdown, write_report
from plog_ci.runner.k6 import run_k6
from plog_ci.store.sqlite import open_store

# Hard cap past the configured duration before k6 is killed.
K6_GRACE_S = 60.0


@dataclass(frozen=True)
class RunRequest:
    repo: Path
    head: str
    base: str | None = None  # None: the head's first parent
    branch: str | None = None
    pr_number: int | None = None
    home: Path | None = None
    allow_secrets: bool = True  # False for pull requests from forks


@dataclass(frozen=True)
class RunOutcome:
    status: str  # pass | fail | no-verdict | error
    exit_code: int
    run_id: int | None
    head_sha: str
    base_sha: str | None
    profile: str
    summary: str
    report_path: Path | None
    report_markdown: str


def environment_fingerprint() -> dict[str, Any]:
    """What must match for two runs to be comparable."""
    return {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "plog": __version__,
        "k6": "1.1.0",
    }


def _headline(verdict: Verdict, stats_total: Any) -> str:
    numbers = (
        f"{stats_total.count} requests, p95 {stats_total.p95:.1f} ms, "
        f"errors {stats_total.error_rate * 100:.2f}%"
    )
    return f"{verdict.reason}. {numbers}" if verdict.reason else numbers


def _load_base_spec(
    git: GitRepo, base_sha: str | None, path: str, allow_hosts: tuple[str, ...]
) -> Spec | None:
    if base_sha is None or not git.exists(base_sha, path):
        return None
    return load_spec_from_git(git, base_sha, path, allow_hosts)


def _report_dir(config: Config, git: GitRepo, home: Path) -> Path:
    configured = Path(config.report.dir)
    if configured.is_absolute():
        return configured
    if git.repo.workdir:
        return Path(git.repo.workdir) / configured
    return home / "reports" / git.path.name / configured


class _Stages:
    """Progress display for the long stages (stderr, so stdout stays parseable)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None

    def __enter__(self) -> _Stages:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage(self, text: str, total: float | None = None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(text, total=total)

    def advance_to(self, completed: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=completed)


def run(request: RunRequest, *, console: Console | None = None) -> RunOutcome:
    console = console or Console(stderr=True)
    home = state_dir(request.home)
    head_sha = request.head
    base_sha = request.base
    run_id: int | None = None
    store = None
    profile = "load"
    try:
        git = GitRepo(request.repo)
        head_sha = git.resolve(request.head)
        base_sha = git.resolve(request.base) if request.base else git.parent(head_sha)
        raw = git.entry(head_sha, "plog.yml")
        if raw is None:
            raise InputError(
                f"plog.yml: not found at {head_sha[:12]}",
                hint="commit a plog.yml at the repository root (see the README)",
            )
        config = parse_config(raw.data, "plog.yml")
        profile = config.load.profile
        with _Stages(console) as stages:
            stages.stage("Loading the OpenAPI spec")
            spec_path = config.openapi.path
            head_spec = load_spec_from_git(git, head_sha, spec_path, config.openapi.allow_hosts)
            base_spec = _load_base_spec(git, base_sha, spec_path, config.openapi.allow_hosts)
            diff = simple_diff(base_spec, head_spec) if base_spec else None
            selection = select_operations(diff, head_spec, config.load.operations)
            if selection.unknown:
                raise InputError(
                    f"plog.yml: load.operations: not in {spec_path}: "
                    + ", ".join(selection.unknown),
                    hint="write operations as 'METHOD /path' exactly as in the spec",
                )
            store = open_store(home)
            run_id = store.start_run(
                repo=str(git.path.resolve()),
                commit_sha=head_sha,
                parent=git.parent(head_sha),
                base_sha=base_sha,
                branch=request.branch,
                profile=profile,
                config_hash=config.digest,
                spec_hash=hashlib.sha256(git.read(head_sha, spec_path)).hexdigest(),
                environment=environment_fingerprint(),
            )
            if not selection.operations:
                verdict = Verdict("pass", (), "no operation changed; nothing to load-test")
                store.finish_run(run_id, "pass", {"reason": verdict.reason}, None)
                console.print(f"[green]PASS[/green] {verdict.reason}")
                return RunOutcome(
                    "pass",
                    ExitCode.OK,
                    run_id,
                    head_sha,
                    base_sha,
                    profile,
                    verdict.reason,
                    None,
                    "",
                )
            with tempfile.TemporaryDirectory(prefix="plog-run-") as tmp:
                workdir = Path(tmp)
                stages.stage(f"Exporting {head_sha[:12]}")
                tree = git.export(head_sha, workdir / "tree")
                stages.stage("Starting the service")
                with ServiceProcess(config.service, tree, workdir / "service.log") as service:
                    startup_s = service.wait_healthy()
                    script = generate(
                        head_spec,
                        selection.operations,
                        config.load,
                        service.base_url,
                        gates=config.gates,
                        data_root=tree,
                    )
                    stages.stage(
                        f"Load test: {len(selection.operations)} operations, "
                        f"{config.load.duration_s:g} s",
                        total=config.load.duration_s,
                    )
                    result = run_k6(
                        script,
                        service.base_url,
                        workdir / "k6",
                        timeout_s=config.load.duration_s + K6_GRACE_S,
                        on_tick=stages.advance_to,
                    )
            store.save_stats(run_id, result.script_hash, result.operations)
            verdict = evaluate(config.gates, result.operations, result.total)
            headline = _headline(verdict, result.total)
            report = render_markdown(
                ReportData(
                    repo=git.path.name,
                    head_sha=head_sha,
                    base_sha=base_sha,
                    branch=request.branch,
                    run_id=run_id,
                    profile=profile,
                    duration_s=result.duration_s,
                    rate=config.load.rate,
                    status=verdict.status,
                    headline=headline,
                    outcomes=verdict.outcomes,
                    stats=tuple(result.operations[k] for k in sorted(result.operations)),
                    total=result.total,
                    diff=diff,
                    selected=script.operations,
                    selector=(
                        config.load.operations
                        if isinstance(config.load.operations, str)
                        else ", ".join(config.load.operations)
                    ),
                    script_hash=result.script_hash,
                    startup_s=startup_s,
                )
            )
            report_path = write_report(report, _report_dir(config, git, home), head_sha, run_id)
            store.finish_run(run_id, verdict.status, _verdict_json(verdict), str(report_path))
        code = ExitCode.GATE_FAILED if verdict.status == "fail" else ExitCode.OK
        return RunOutcome(
            verdict.status, code, run_id, head_sha, base_sha, profile, headline, report_path, report
        )
    except PlogError as exc:
        return _error_outcome(exc, exc.exit_code, store, run_id, head_sha, base_sha, profile)
    except Exception as exc:  # a bug: still end with one final status, with the trace kept
        trace = traceback.format_exc()
        err = InternalError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in PLog; please report it with the trace",
        )
        print(trace, file=sys.stderr)
        return _error_outcome(err, ExitCode.INTERNAL, store, run_id, head_sha, base_sha, profile)
    finally:
        if store is not None:
            store.close()


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "status": verdict.status,
        "reason": verdict.reason,
        "decided_by": [
            {"gate": o.gate.label, "operation": o.operation, "value": o.value, "detail": o.detail}
            for o in verdict.decisive
        ],
        "outcomes": [
            {
                "gate": o.gate.label,
                "operation": o.operation,
                "value": o.value,
                "passed": o.passed,
                "level": o.gate.level,
                "detail": o.detail,
            }
            for o in verdict.outcomes
        ],
    }


def _error_outcome(
    exc: PlogError,
    code: int,
    store: Any,
    run_id: int | None,
    head_sha: str,
    base_sha: str | None,
    profile: str,
) -> RunOutcome:
    if store is not None and run_id is not None:
        try:
            store.finish_run(run_id, "error", {"status": "error", "reason": exc.message}, None)
        except Exception as store_exc:  # keep the original error; note the second one
            print(
                f"warning: could not record the error in the results store: {store_exc}",
                file=sys.stderr,
            )
    return RunOutcome("error", int(code), run_id, head_sha, base_sha, profile, str(exc), None, "")
