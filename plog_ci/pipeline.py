"""The pipeline: the only module that knows the order of the stages.

``STAGES`` is the list, in order; each stage is a short function that calls into
the module owning that work and leaves what it produced on the ``Run``:

plan (config, specs, diff, selection) → record the run (store row, live-series
sinks) → measure (deploy, k6, resources) → keep the measurement → baseline →
compare → judge (findings, gates) → report (and the evidence bundle) → finish
(final status, sinks). The AI narrative comes after the verdict is posted, outside
``run()`` (``RunOutcome.narration``, ``plog_ci.report.narration.narrate``).

A new stage (build, deploy, AI narration) is one more entry; what it must undo
it registers on ``Run.teardown``, which is closed when the run ends, however it
ends. ``run()`` never raises for a PlogError: every run ends with one final
status (pass, fail, no-verdict, error; ``cancelled`` in the store when
interrupted).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.text import Text

from plog_ci import proc, reaper
from plog_ci.ab.baseline import Baseline, History, judge_sequentially, stored_baseline
from plog_ci.ab.measure import Measurement, Recorder, measure
from plog_ci.ab.run_findings import run_findings
from plog_ci.analysis.aborted import aborted_verdict
from plog_ci.analysis.compare_table import no_verdict_line
from plog_ci.analysis.comparison import COMPARED_METRICS, Comparison, StatsSettings
from plog_ci.analysis.findings import Finding
from plog_ci.analysis.gates import Verdict
from plog_ci.analysis.image_gate import scan_gated
from plog_ci.analysis.relative_gates import evaluate_with_comparisons, metrics_for
from plog_ci.analysis.sequential_run import nothing_followed
from plog_ci.analysis.stats import compare_runs
from plog_ci.config import Config
from plog_ci.dashboard_link import run_url
from plog_ci.deploy import setup
from plog_ci.deploy.cgroup import resource_row
from plog_ci.deploy.target import reap_leftover_containers
from plog_ci.errors import ExitCode, InternalError, PlogError, StateError
from plog_ci.gitrepo import GitRepo
from plog_ci.home import check_writable, is_state_fault, state_dir, unwritable
from plog_ci.loadgen.auth import register_secrets as register_auth_secrets
from plog_ci.plan import Plan, make_plan
from plog_ci.progress import StageProgress
from plog_ci.report.assemble import Report, RunFacts, write_run_report
from plog_ci.report.documents import run_documents
from plog_ci.report.narration import PendingNarrative, evidence_bundle
from plog_ci.runner.environment import environment_fingerprint
from plog_ci.series import SeriesFanout
from plog_ci.store.details import PENDING_GATE, SeriesWriter
from plog_ci.store.influx_export import InfluxSeries
from plog_ci.store.live import LiveWriter, ProgressWriter, save_documents, total_p95
from plog_ci.store.sqlite import ResultsStore, open_store

# How stored histograms are encoded: plog_ci.runner.histogram.Histogram.to_dict as JSON.
HISTOGRAM_ENCODING = "prometheus-native-json"


@dataclass(frozen=True)
class RunRequest:
    repo: Path
    head: str
    base: str | None = None  # None: the head's first parent
    branch: str | None = None
    pr_number: int | None = None
    home: Path | None = None
    allow_secrets: bool = True  # False for pull requests from forks
    dashboard_url: str | None = None  # the dashboard's base URL: the report links the run
    # The repository's name where it labels things (the helm target's job namespace): a
    # forge's owner/name; None: the repository folder's name.
    repository: str | None = None


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
    retry: bool = False  # an environmental fault (StateError): the queue runs the job again
    # With report.ai: the narrative to request once the verdict is posted (report.narration)
    narration: PendingNarrative | None = None


class Run:
    """One run, as the stages fill it in.

    Set from the request: ``home``, ``head_sha`` and ``base_sha`` (as asked until the
    plan resolves them), ``teardown``, ``series`` (the live series' fan-out; sinks
    are registered when the run is recorded). Each stage then sets its own fields
    (annotated below, in stage order); a stage that ends the run early sets
    ``outcome``.
    """

    plan: Plan
    measured: Measurement
    baseline: Baseline
    comparisons: list[Comparison] | None
    findings: list[Finding]
    verdict: Verdict
    report: Report

    def __init__(self, request: RunRequest, console: Console) -> None:
        self.request = request
        self.console = console
        self.home = state_dir(request.home)
        self.head_sha = request.head
        self.base_sha = request.base
        self.profile = "load"
        self.store: ResultsStore | None = None
        self.run_id: int | None = None
        self.teardown = ExitStack()
        self.series = SeriesFanout()
        self.progress: ProgressWriter | None = None  # the stage, for the dashboard
        self.settings: StatsSettings | None = None
        self.outcome: RunOutcome | None = None
        self.narration: PendingNarrative | None = None

    def recorded(self) -> tuple[ResultsStore, int]:
        """The store and the run's id (a stage after ``record_run``)."""
        if self.store is None or self.run_id is None:
            raise InternalError("a stage ran before the run was recorded")
        return self.store, self.run_id

    def end(
        self,
        status: str,
        code: int,
        summary: str,
        report: Report | None = None,
        retry: bool = False,
    ) -> None:
        self.outcome = RunOutcome(
            status,
            int(code),
            self.run_id,
            self.head_sha,
            self.base_sha,
            self.profile,
            summary,
            report.path if report else None,
            report.markdown if report else "",
            retry,
            self.narration,
        )


# --- the stages, in order --------------------------------------------------------------


def plan_stage(run: Run) -> None:
    git = GitRepo(run.request.repo)
    run.head_sha = git.resolve(run.request.head)
    run.base_sha = git.resolve(run.request.base) if run.request.base else git.parent(run.head_sha)
    run.plan = make_plan(git, run.head_sha, run.base_sha)
    run.profile = run.plan.config.load.profile
    register_secrets(run.plan.config)


def register_secrets(config: Config) -> None:
    """Every secret the run holds goes to ``proc``'s redaction before anything starts:
    variables named like secrets (forge tokens, the webhook secret), the load's
    credentials and the InfluxDB sink's."""
    proc.register_environment_secrets()
    register_auth_secrets(config.load.auth)
    if config.influx is not None:
        influx = config.influx
        password = os.environ.get(influx.password_env) if influx.password_env else None
        proc.register_basic_auth(influx.username, password)
        if influx.token_env:
            proc.register_secret(os.environ.get(influx.token_env))


def record_run(run: Run) -> None:
    """Open the run's row in the store and register the live series' sinks."""
    plan = run.plan
    # What a killed `plog run` left (its services, folders, a run left `running`).
    reaper.reap(run.home)
    if plan.config.deploy.target == "podman":
        reap_leftover_containers(run.home)
    run.store = store = open_store(run.home)
    run.run_id = run_id = store.start_run(
        repo=str(plan.git.path.resolve()),
        commit_sha=run.head_sha,
        parent=plan.git.parent(run.head_sha),
        base_sha=run.base_sha,
        branch=run.request.branch,
        profile=run.profile,
        config_hash=plan.config.digest,
        spec_hash=hashlib.sha256(plan.spec_bytes).hexdigest(),
        environment=environment_fingerprint(),
    )
    # Recorded from here to the final status, so that if this process is killed at any
    # stage the next `plog run` or worker closes the run (plog_ci.reaper).
    run.teardown.enter_context(
        proc.recording(store.path.parent / proc.RECORDS_DIR, run_id=run_id, store=str(store.path))
    )
    run.series.register(SeriesWriter(store, run_id))
    run.series.register(LiveWriter(store, run_id))
    run.progress = ProgressWriter(store, run_id)
    run.progress.stage("record")
    # The gates as they stand until the judge replaces them: the dashboard draws
    # them on the live charts (pending, no value yet).
    store.save_gate_outcomes(
        run_id,
        [
            {
                "gate": g.label,
                "operation": g.operation or "*",
                "level": g.level,
                "passed": None,
                "detail": PENDING_GATE,
            }
            for g in plan.config.gates
        ]
        if plan.selection.operations
        else [],
    )
    if plan.config.influx is not None:
        run.series.register(InfluxSeries(store, run_id, plan.config, run.home))
    # Stopped once, however the run ends; last, after whatever later stages register.
    run.teardown.push(run.series.stop_on_exit)
    if not plan.selection.operations:
        reason = "no operation changed; nothing to load-test"
        store.finish_run(run_id, "pass", {"reason": reason}, None)
        run.end("pass", ExitCode.OK, reason)


def measure_stage(run: Run) -> None:
    store, run_id = run.recorded()
    request = run.request
    recorder = Recorder(
        store, run_id, run.series, request.allow_secrets, request.pr_number, request.repository
    )
    with (
        StageProgress(run.console, run.progress) as progress,
        setup.reporting(run.home, progress.stage),
    ):
        run.series.register(progress.live())
        run.measured = measure(run.plan, recorder, progress)


def keep_measurement(run: Run) -> None:
    store, run_id = run.recorded()
    measured, result = run.measured, run.measured.result
    store.save_stats(run_id, result.script_hash, result.operations)
    store.save_errors(
        run_id,
        {op: s.errors_by_status for op, s in result.operations.items() if s.errors_by_status},
    )
    store.save_histograms(
        run_id, HISTOGRAM_ENCODING, {op: json.dumps(h) for op, h in result.histograms.items()}
    )
    store.save_exchanges(run_id, result.exchanges)
    for target, samples in (("head", measured.head_samples), ("base", measured.base_samples)):
        store.save_resources(run_id, target, [resource_row(s) for s in samples])


def baseline_stage(run: Run) -> None:
    """Side by side, the base was measured with the head; else look among stored runs."""
    store, run_id = run.recorded()
    config, baseline = run.plan.config, run.measured.baseline
    if baseline.source == "none" and config.compare.mode != "off" and run.plan.base_error is None:
        note = baseline.note
        where = History(
            repo=str(run.plan.git.path.resolve()),
            run_id=run_id,
            head_sha=run.head_sha,
            parent=run.plan.git.parent(run.head_sha),
            base_sha=run.base_sha if run.request.base else None,
            branch=run.request.branch,
        )
        baseline = stored_baseline(store, config, run.measured.script.sha256, where)
        if note:
            baseline.note = f"{note}; {baseline.note}"
    judge_sequentially(store, run_id, baseline)
    run.baseline = baseline


def compare_stage(run: Run) -> None:
    """Per-operation comparisons, or None when there is nothing comparable to test."""
    baseline, config = run.baseline, run.plan.config
    run.comparisons = None
    if baseline.old_samples is None or baseline.new_samples is None:
        return
    wanted = {"p95", "error_rate", *metrics_for(config.gates)}
    settings = StatsSettings(
        alpha=config.compare.alpha,
        min_effect_pct=config.compare.min_effect * 100,
        paired=baseline.paired,
        metrics=tuple(m for m in COMPARED_METRICS if m in wanted),
    )
    run.settings = settings
    run.comparisons = compare_runs(
        baseline.old_samples, baseline.new_samples, settings, baseline.run_level
    )
    adaptive = run.measured.sequential is not None
    why = no_verdict_line(run.comparisons, remedies=not adaptive)
    if why is not None:  # the report's comparison table opens with the same line
        what = "fixed tests for reference" if adaptive else "compared"
        run.console.print(Text(f"{what} with {baseline.note}: {why}"))


def _adaptive_notes(run: Run) -> tuple[str, ...]:
    """The report's warning when compare.length adaptive had nothing to follow."""
    if run.measured.sequential is not None:
        return ()
    note = nothing_followed(run.plan.config.compare.length, run.plan.config.gates)
    return () if note is None else (note,)


def judge_stage(run: Run) -> None:
    """Findings (resources, latency) and the gates' verdict."""
    store, run_id = run.recorded()
    measured, result, baseline = run.measured, run.measured.result, run.baseline
    p95 = total_p95(store, run_id, "head" if measured.base_samples else "")
    run.findings, warnings = run_findings(
        measured, baseline, run.comparisons, p95, run.plan.config.deploy.resources
    )
    for line in warnings:
        run.console.print(Text("warning: ", style="yellow") + Text(line))
    store.save_findings(run_id, [f.to_dict() for f in run.findings])
    run.verdict = evaluate_with_comparisons(
        run.plan.config.gates, result.operations, result.total, run.comparisons, measured.sequential
    )
    if result.aborted is not None:
        run.verdict = aborted_verdict(run.verdict, result.aborted, result.duration_s)
    # The head image's Harbor scan is one more gate (plog_ci.analysis.image_gate).
    run.verdict = scan_gated(run.verdict, measured.image)
    store.save_gate_outcomes(run_id, run.verdict.outcome_rows())


def report_stage(run: Run) -> None:
    store, run_id = run.recorded()
    image = run.measured.image
    documents = run_documents(
        run.plan,
        run.measured.result,
        run.baseline,
        run.comparisons,
        run.settings,
        run.measured.script.operations,
        image,
    )
    # The evidence bundle is kept always; narrated after the verdict with report.ai.
    judged = (run.verdict, run.comparisons, run.findings)
    environment = store.get_run(run_id).environment or {}
    bundle = evidence_bundle(run_id, run.plan, run.measured, run.baseline, judged, environment)
    documents["evidence"] = bundle.to_json()
    save_documents(store, run_id, documents)
    facts = RunFacts(
        run_id,
        run_url(run.request.dashboard_url, run_id),
        run.request.branch,
        run.profile,
        run.measured.startup_s,
        run.measured.script.operations,
        run.measured.script.feeds,
        (*run.measured.script.warnings, *_adaptive_notes(run)),
    )
    run.report = write_run_report(
        run.plan,
        facts,
        run.measured.result,
        run.baseline,
        run.verdict,
        run.findings,
        run.comparisons,
        run.home,
        image,
        run.measured.sequential,
    )
    ai = run.plan.config.report.ai
    if ai is not None:
        run.narration = PendingNarrative(ai, bundle, run.report, run.home, run_id)


def finish_stage(run: Run) -> None:
    """The final status. The live series' sinks stop when ``Run.teardown`` closes, right
    after (the InfluxDB sink writes then; a sink never fails a run)."""
    store, run_id = run.recorded()
    verdict = run.verdict
    stored = verdict.to_json()
    result = run.measured.result
    if result.aborted is not None:  # the verdict failed on it; keep when and why as data
        stored["aborted"] = {"reason": result.aborted, "after_s": round(result.duration_s, 1)}
    store.finish_run(run_id, verdict.status, stored, str(run.report.path))
    code = ExitCode.GATE_FAILED if verdict.status == "fail" else ExitCode.OK
    run.end(verdict.status, code, run.report.headline, run.report)


Stage = tuple[str, Callable[[Run], None]]

STAGES: tuple[Stage, ...] = (
    ("plan", plan_stage),
    ("record", record_run),
    ("measure", measure_stage),
    ("keep", keep_measurement),
    ("baseline", baseline_stage),
    ("compare", compare_stage),
    ("judge", judge_stage),
    ("report", report_stage),
    ("finish", finish_stage),
)


def run(request: RunRequest, *, console: Console | None = None) -> RunOutcome:
    """Run every stage in order; one final status whatever happens (see the module doc)."""
    state = Run(request, console or Console(stderr=True, emoji=False, soft_wrap=True))
    try:
        with state.teardown:
            for name, stage in STAGES:
                check_writable((state.home,))  # a read-only state directory: exit 4, not a crash
                if state.progress is not None:
                    state.progress.stage(name)
                stage(state)
                if state.outcome is not None:
                    return state.outcome
        raise InternalError("the pipeline's last stage gave no outcome")
    except KeyboardInterrupt:
        # Interrupted (Ctrl-C, SIGTERM): the run still gets its final status.
        if state.store is not None and state.run_id is not None:
            state.store.finish_run(
                state.run_id, "cancelled", {"status": "cancelled", "reason": "interrupted"}, None
            )
        raise
    except PlogError as exc:
        return _error_outcome(exc, exc.exit_code, state)
    except Exception as exc:  # a bug: still end with one final status, with the trace kept
        fault = _state_fault(exc, state)
        if fault is not None:
            return _error_outcome(fault, fault.exit_code, state)
        print(proc.redact(traceback.format_exc()), file=sys.stderr)
        err = InternalError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in PLog; please report it with the trace",
        )
        return _error_outcome(err, ExitCode.INTERNAL, state)
    finally:
        if state.store is not None:
            state.store.close()


def _state_fault(exc: Exception, state: Run) -> StateError | None:
    """An OS or SQLite error that comes from an unwritable state directory, as the
    ``StateError`` it is (else None: a bug)."""
    if not (isinstance(exc, OSError) or is_state_fault(exc)):
        return None
    files = (state.home, *(state.store.files if state.store is not None else ()))
    bad = unwritable(files)
    return StateError(bad, str(exc)[:200]) if bad is not None else None


def _error_outcome(exc: PlogError, code: int, state: Run) -> RunOutcome:
    # The message may quote a child's output (a service's last lines): no secret in it.
    reason, summary = proc.redact(exc.message), proc.redact(str(exc))
    if state.store is not None and state.run_id is not None:
        try:
            state.store.finish_run(
                state.run_id, "error", {"status": "error", "reason": reason}, None
            )
        except StateError:
            pass  # the store cannot be written: the run stays open; the job is retried
        except Exception as store_exc:  # keep the original error; note the second one
            print(
                f"warning: could not record the error in the results store: {store_exc}",
                file=sys.stderr,
            )
    state.end("error", code, summary, retry=isinstance(exc, StateError))
    assert state.outcome is not None
    return state.outcome
