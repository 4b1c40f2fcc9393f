"""The pipeline: the only module that knows the order of the stages.

config → spec diff → deploy (head, and base when interleaving) → k6 → store
→ baseline → gates → report → teardown.

``run()`` never raises for a PlogError: every run ends with one final status
(pass, fail, no-verdict, error; ``cancelled`` in the store when interrupted).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import traceback
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from plog_ci import __version__
from plog_ci.analysis.compare_table import render_text
from plog_ci.analysis.findings import ResourceSummary, latency_findings, resource_findings
from plog_ci.analysis.gates import Verdict
from plog_ci.analysis.relative_gates import evaluate_with_comparisons, metrics_for
from plog_ci.analysis.stats import (
    LATENCY_METRICS,
    METRICS,
    Comparison,
    OperationSamples,
    RunLevelSamples,
    StatsSettings,
    compare_runs,
)
from plog_ci.analysis.stored_runs import run_level_samples, series_samples
from plog_ci.config import Config, parse_config
from plog_ci.config.model import LoadConfig
from plog_ci.deploy.process import Replicas
from plog_ci.deploy.resources import ResourceSampler, Sample
from plog_ci.duet import run_duet
from plog_ci.errors import ConfigError, ExitCode, InputError, InternalError, PlogError
from plog_ci.gitrepo import GitRepo
from plog_ci.home import state_dir
from plog_ci.interleaved import block_samples, merge_side, merge_stats, round_order, run_scheduled
from plog_ci.loadgen.script import Schedule, Script, generate
from plog_ci.openapi.diff import diff_specs
from plog_ci.openapi.load import load_spec_from_git
from plog_ci.openapi.model import Spec
from plog_ci.openapi.select import Selection, select_operations
from plog_ci.report.markdown import ReportData, render_markdown, write_report
from plog_ci.results import LoadResult, OperationStats, SeriesPoint
from plog_ci.runner.k6 import run_k6
from plog_ci.store.influx_export import export_run
from plog_ci.store.sqlite import ResultsStore, SeriesRow, open_store

# Hard cap past the configured duration before k6 is killed.
K6_GRACE_S = 60.0
# How stored histograms are encoded: plog_ci.runner.histogram.Histogram.to_dict as JSON.
HISTOGRAM_ENCODING = "prometheus-native-json"
# Interleaved blocks shorter than this measure mostly warm-up.
MIN_BLOCK_S = 1.0


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


@dataclass
class Baseline:
    """What the head is compared with, and why (shown in the report)."""

    source: str  # "duet" | "interleaved" | "stored run #N" | "none"
    stats: dict[str, OperationStats] = field(default_factory=dict)
    blocks: dict[str, list[dict[str, OperationStats]]] = field(default_factory=dict)
    note: str = ""
    run_id: int | None = None
    total: OperationStats | None = None
    # Per-block samples for the statistics (None: too little to test).
    old_samples: dict[str, OperationSamples] | None = None
    new_samples: dict[str, OperationSamples] | None = None
    paired: bool = False
    # Sequential comparisons: the baseline's runs, and latency judged run by run.
    run_ids: tuple[int, ...] = ()
    run_level: dict[tuple[str, str], RunLevelSamples] | None = None


@dataclass(frozen=True)
class Measurement:
    script: Script
    result: LoadResult
    baseline: Baseline
    startup_s: float
    head_samples: list[Sample]
    base_samples: list[Sample] = field(default_factory=list)
    base_total: OperationStats | None = None


class _LiveSeries:
    """Per-second points from the capture thread, written to the store on the main thread.

    SQLite connections belong to the thread that opened them, so the capture's
    callback only queues; the progress tick (main thread) drains the queue.
    """

    def __init__(self, store: ResultsStore | None, run_id: int | None) -> None:
        self.store = store
        self.run_id = run_id
        self.pending: deque[SeriesPoint] = deque()
        self.last_second: dict[str, int] = {}

    def collect(self, points: list[SeriesPoint]) -> None:
        self.pending.extend(points)

    def flush(self) -> None:
        rows = []
        while self.pending:
            p = self.pending.popleft()
            # k6 pushes about once a second, not on the second: two pushes can fall in
            # one wall-clock second, and the store keeps one row per second. The later
            # one takes the next second (the drift undoes itself at the next push).
            second = max(int(p.t), self.last_second.get(p.operation, -1) + 1)
            self.last_second[p.operation] = second
            rows.append(
                SeriesRow(
                    p.operation, second, p.requests, p.failures, p.p50, None, p.p95, p.p99, None
                )
            )
        if rows and self.store is not None and self.run_id is not None:
            self.store.save_series(self.run_id, rows)

    def ticker(self, progress: Callable[[float], None]) -> Callable[[float], None]:
        def tick(elapsed: float) -> None:
            progress(elapsed)
            self.flush()

        return tick


def environment_fingerprint() -> dict[str, Any]:
    """What must match for two stored runs to be comparable."""
    return {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "plog": __version__,
        "k6": "1.1.0",
    }


def _stretched(load: LoadConfig, total_s: float) -> LoadConfig:
    """``load`` lasting ``total_s`` (stages scaled alike): an interleaved run's both sides."""
    if not load.stages:
        return replace(load, duration_s=total_s)
    factor = total_s / sum(stage.duration_s for stage in load.stages)
    return replace(
        load,
        duration_s=total_s,
        stages=tuple(replace(stage, duration_s=stage.duration_s * factor) for stage in load.stages),
    )


def _replicas_note(config: Config) -> str:
    count = config.compare.replicas
    return f", {count} processes per side taking turns" if count > 1 else ""


def _headline(verdict: Verdict, total: OperationStats) -> str:
    numbers = (
        f"{total.count} requests, p95 {total.p95:.1f} ms, errors {total.error_rate * 100:.2f}%"
    )
    return f"{verdict.reason}. {numbers}" if verdict.reason else numbers


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


class _Run:
    """State of one pipeline run, stage by stage."""

    def __init__(self, request: RunRequest, console: Console) -> None:
        self.request = request
        self.console = console
        self.home = state_dir(request.home)
        self.head_sha = request.head
        self.base_sha = request.base
        self.run_id: int | None = None
        self.store: ResultsStore | None = None
        self.profile = "load"

    # --- stage 1: what to test -------------------------------------------------------

    def prepare(self) -> tuple[GitRepo, Config, Spec, Spec | None, Any, Selection]:
        git = GitRepo(self.request.repo)
        self.head_sha = git.resolve(self.request.head)
        self.base_sha = (
            git.resolve(self.request.base) if self.request.base else git.parent(self.head_sha)
        )
        config = self._config_at(git, self.head_sha)
        self.profile = config.load.profile
        spec_path = config.openapi.path
        head_spec = load_spec_from_git(git, self.head_sha, spec_path, config.openapi.allow_hosts)
        base_spec = None
        if self.base_sha is not None and git.exists(self.base_sha, spec_path):
            base_spec = load_spec_from_git(
                git, self.base_sha, spec_path, config.openapi.allow_hosts
            )
        diff = diff_specs(base_spec, head_spec) if base_spec else None
        selection = select_operations(diff, head_spec, config.load.operations)
        if selection.unknown:
            raise InputError(
                f"plog.yml: load.operations: not in {spec_path}: " + ", ".join(selection.unknown),
                hint="write operations as 'METHOD /path' exactly as in the spec",
            )
        self.store = open_store(self.home)
        self.run_id = self.store.start_run(
            repo=str(git.path.resolve()),
            commit_sha=self.head_sha,
            parent=git.parent(self.head_sha),
            base_sha=self.base_sha,
            branch=self.request.branch,
            profile=self.profile,
            config_hash=config.digest,
            spec_hash=hashlib.sha256(git.read(self.head_sha, spec_path)).hexdigest(),
            environment=environment_fingerprint(),
        )
        return git, config, head_spec, base_spec, diff, selection

    @staticmethod
    def _config_at(git: GitRepo, sha: str) -> Config:
        raw = git.entry(sha, "plog.yml")
        if raw is None:
            raise InputError(
                f"plog.yml: not found at {sha[:12]}",
                hint="commit a plog.yml at the repository root (see the README)",
            )
        return parse_config(raw.data, "plog.yml")

    # --- stage 2: measure ------------------------------------------------------------

    def measure(
        self,
        git: GitRepo,
        config: Config,
        head_spec: Spec,
        base_spec: Spec | None,
        selection: Selection,
        stages: _Stages,
    ) -> Measurement:
        side_by_side = (
            config.compare.mode in ("duet", "interleaved")
            and self.base_sha is not None
            and base_spec is not None
            and any(base_spec.find(op.key) for op in selection.operations)
        )
        with tempfile.TemporaryDirectory(prefix="plog-run-") as tmp, ExitStack() as stack:
            workdir = Path(tmp)
            stages.stage(f"Exporting {self.head_sha[:12]}")
            head_tree = git.export(self.head_sha, workdir / "head")
            # Replicas only serve side-by-side comparisons (see compare.replicas).
            replicas = config.compare.replicas if side_by_side else 1
            stages.stage(
                "Starting the service" + (f" ({replicas} replicas)" if replicas > 1 else "")
            )
            head = stack.enter_context(
                Replicas(
                    config.service,
                    head_tree,
                    workdir / "head.log",
                    replicas,
                    inherit_env=self.request.allow_secrets,
                )
            )
            startup_s = head.wait_healthy()
            base_service: Replicas | None = None
            note = ""
            if side_by_side:
                assert self.base_sha is not None and base_spec is not None
                try:
                    base_service = self._start_base(git, config, workdir, stack, stages)
                except PlogError as exc:
                    note = f"the base could not be deployed ({exc.message.splitlines()[0]})"
            head_sampler = stack.enter_context(ResourceSampler(head.pids))
            base_sampler = (
                stack.enter_context(ResourceSampler(base_service.pids))
                if base_service is not None
                else None
            )
            if base_service is None:
                script = generate(
                    head_spec,
                    selection.operations,
                    config.load,
                    gates=config.gates,
                    data_root=head_tree,
                )
                extra_env, secrets = self._k6_secrets(script)
                live = _LiveSeries(self.store, self.run_id)
                stages.stage(
                    f"Load test: {len(selection.operations)} operations, "
                    f"{config.load.duration_s:g} s",
                    total=config.load.duration_s,
                )
                result = run_k6(
                    script,
                    head.base_url,
                    workdir / "k6",
                    timeout_s=config.load.duration_s + K6_GRACE_S,
                    on_tick=live.ticker(stages.advance_to),
                    on_second=live.collect,
                    extra_env=extra_env,
                    secrets=secrets,
                )
                live.flush()
                return Measurement(
                    script, result, Baseline("none", note=note), startup_s, head_sampler.stop()
                )
            assert base_spec is not None and base_sampler is not None
            # A duet needs a scenario per operation and side: the closed model interleaves.
            duet = config.compare.mode == "duet" and (config.load.model or "open") == "open"
            both = self._duet if duet else self._interleave
            # Operations the base does not have are not loaded there: nothing to compare.
            on_base = tuple(op.key for op in selection.operations if base_spec.find(op.key))
            script, result, baseline = both(
                config,
                head_spec,
                selection,
                on_base,
                head,
                base_service,
                workdir,
                stages,
                head_tree,
            )
            return Measurement(
                script, result, baseline, startup_s, head_sampler.stop(), base_sampler.stop()
            )

    def _start_base(
        self, git: GitRepo, config: Config, workdir: Path, stack: ExitStack, stages: _Stages
    ) -> Replicas:
        assert self.base_sha is not None
        stages.stage(f"Starting the base {self.base_sha[:12]} beside it")
        try:
            service = self._config_at(git, self.base_sha).service
        except (ConfigError, InputError):
            service = config.service  # the base predates plog.yml: start it the head's way
        base_tree = git.export(self.base_sha, workdir / "base")
        base = stack.enter_context(
            Replicas(
                replace(service, port=0),
                base_tree,
                workdir / "base.log",
                config.compare.replicas,
                inherit_env=self.request.allow_secrets,
            )
        )
        base.wait_healthy()
        return base

    def _interleave(
        self,
        config: Config,
        head_spec: Spec,
        selection: Selection,
        on_base: tuple[str, ...],
        head: Replicas,
        base: Replicas,
        workdir: Path,
        stages: _Stages,
        head_tree: Path,
    ) -> tuple[Script, LoadResult, Baseline]:
        rounds = config.compare.blocks
        block_s = max(MIN_BLOCK_S, config.load.duration_s / rounds)
        total = 2 * rounds * block_s
        # Turns per side and round: a block cut into turns of about compare.turn.
        turns = max(1, round(block_s / config.compare.turn_s)) if config.compare.turn_s else 1
        # Each pair of turns in a round takes its own random order.
        order = round_order(rounds * turns, seed=int(self.head_sha[:8], 16))
        script = generate(
            head_spec,
            selection.operations,
            _stretched(config.load, total),
            gates=config.gates,
            data_root=head_tree,
            schedule=Schedule(
                tuple(side for pair in order for side in pair), on_base, per_round=2 * turns
            ),
        )
        extra_env, secrets = self._k6_secrets(script)
        turns_note = f" in turns of {block_s / turns:.3g} s" if turns > 1 else ""
        stages.stage(
            f"Interleaved load test: {len(selection.operations)} operations, base and head, "
            f"{rounds} rounds of {block_s:g} s per side{turns_note}",
            total=total,
        )
        outcome = run_scheduled(
            script,
            {"base": base.base_url, "head": head.base_url},
            workdir / "k6",
            timeout_s=total + K6_GRACE_S,
            on_tick=stages.advance_to,
            extra_env=extra_env,
            secrets=secrets,
        )
        head_ops, head_total, head_hists = merge_side(outcome.blocks["head"])
        base_ops, base_total, _ = merge_side(outcome.blocks["base"])
        result = LoadResult(
            head_ops,
            head_total,
            sum(r.duration_s for r in outcome.blocks["head"]),
            max(r.k6_exit_code for r in outcome.blocks["head"]),
            script.sha256,
            histograms=head_hists,
        )
        baseline = self._paired_baseline(
            "interleaved",
            outcome.blocks,
            base_ops,
            base_total,
            on_base,
            f", {rounds} interleaved rounds{turns_note}{_replicas_note(config)}",
        )
        return script, result, baseline

    def _duet(
        self,
        config: Config,
        head_spec: Spec,
        selection: Selection,
        on_base: tuple[str, ...],
        head: Replicas,
        base: Replicas,
        workdir: Path,
        stages: _Stages,
        head_tree: Path,
    ) -> tuple[Script, LoadResult, Baseline]:
        script = generate(
            head_spec,
            selection.operations,
            config.load,
            gates=config.gates,
            data_root=head_tree,
            duet_base=on_base,
        )
        extra_env, secrets = self._k6_secrets(script)
        live = _LiveSeries(self.store, self.run_id)
        stages.stage(
            f"Duet load test: {len(selection.operations)} operations, base and head at once, "
            f"{script.duration_s:g} s",
            total=script.duration_s,
        )
        outcome = run_duet(
            script,
            {"base": base.base_url, "head": head.base_url},
            workdir / "k6",
            rounds=config.compare.blocks,
            timeout_s=script.duration_s + K6_GRACE_S,
            on_tick=live.ticker(stages.advance_to),
            on_second=live.collect,
            extra_env=extra_env,
            secrets=secrets,
        )
        live.flush()
        base_run = outcome.runs["base"]
        baseline = self._paired_baseline(
            "duet",
            outcome.blocks,
            base_run.operations,
            base_run.total,
            on_base,
            f" and loaded at the same time as the head, {len(outcome.blocks['head'])} paired "
            f"blocks{_replicas_note(config)}",
        )
        return script, outcome.runs["head"], baseline

    def _paired_baseline(
        self,
        kind: str,
        blocks: dict[str, list[LoadResult]],
        base_ops: dict[str, OperationStats],
        base_total: OperationStats,
        on_base: tuple[str, ...],
        how: str,
    ) -> Baseline:
        """Store a side-by-side run's paired blocks (side -> blocks); the baseline they make."""
        store, run_id = self.store, self.run_id
        assert store is not None and run_id is not None
        for side, side_blocks in blocks.items():
            for index, block in enumerate(side_blocks):
                store.save_block(run_id, side, index, block.operations, block.histograms)
        store.set_kind(run_id, kind)
        per_block = {side: [b.operations for b in blocks[side]] for side in ("base", "head")}
        durations = [b.duration_s for b in blocks["head"]]
        samples = {
            side: block_samples(per_block[side], durations, [b.histograms for b in blocks[side]])
            for side in ("base", "head")
        }
        comparable = {op: s for op, s in base_ops.items() if op in on_base}
        return Baseline(
            kind,
            comparable,
            per_block,
            f"base {self.base_sha[:12] if self.base_sha else ''} deployed side by side{how}",
            total=base_total,
            old_samples={op: s for op, s in samples["base"].items() if op in comparable},
            new_samples=samples["head"],
            paired=True,
        )

    def _k6_secrets(self, script: Script) -> tuple[dict[str, str], tuple[str, ...]]:
        """Environment for k6's auth variables, and the values to redact from its log.

        A pull request from a fork runs without secrets: the variables are blanked
        for k6 (it would otherwise inherit them) as they are for the service.
        """
        if not self.request.allow_secrets:
            return {name: "" for name in script.secret_env}, ()
        values = tuple(v for name in script.secret_env if (v := os.environ.get(name)))
        return {}, values

    # --- stage 3: baseline from history (sequential comparison) ------------------------

    def stored_baseline(self, git: GitRepo, config: Config, script: Script) -> Baseline:
        store, run_id = self.store, self.run_id
        assert store is not None and run_id is not None
        repo = str(git.path.resolve())
        env = environment_fingerprint()
        policy = config.compare.baseline
        tried: list[str] = []
        if policy in ("auto", "base") and self.base_sha and self.request.base:
            found = store.comparable_runs(
                repo,
                script_hash=script.sha256,
                environment=env,
                commit_sha=self.base_sha,
                exclude=run_id,
            )
            tried.append(f"base {self.base_sha[:12]}")
            if found:
                return self._from_runs(store, found, f"stored run #{found[0].id} of the base")
        parent = git.parent(self.head_sha)
        if policy in ("auto", "previous") and parent:
            found = store.comparable_runs(
                repo, script_hash=script.sha256, environment=env, commit_sha=parent, exclude=run_id
            )
            tried.append(f"previous commit {parent[:12]}")
            if found:
                return self._from_runs(
                    store, found, f"stored run #{found[0].id} of the previous commit"
                )
        branch = config.compare.branch or self.request.branch
        if policy in ("auto", "branch") and branch:
            found = store.comparable_runs(
                repo,
                script_hash=script.sha256,
                environment=env,
                branch=branch,
                passing_only=True,
                exclude=run_id,
                limit=config.compare.last_n,
            )
            tried.append(f"passing runs on {branch}")
            if found:
                return self._from_runs(store, found, f"last {len(found)} passing runs on {branch}")
        return Baseline(
            "none",
            note="no comparable baseline (tried: "
            + (", ".join(tried) or "nothing to try")
            + "; runs compare only when "
            "the generated script and the environment match)",
        )

    @staticmethod
    def _from_runs(store: ResultsStore, runs: list[Any], source: str) -> Baseline:
        per_run = [store.operation_stats(r.id) for r in runs]
        names = sorted({n for stats in per_run for n in stats})
        merged = {n: merge_stats(n, [s[n] for s in per_run if n in s], 1.0) for n in names}
        # merge_stats sums requests; a baseline of N runs reports per-run throughput.
        merged = {
            n: replace(
                s,
                rps=sum(p[n].rps for p in per_run if n in p)
                / max(1, sum(1 for p in per_run if n in p)),
            )
            for n, s in merged.items()
        }
        return Baseline(
            source,
            merged,
            note=source,
            run_id=runs[0].id,
            old_samples=series_samples(store, [r.id for r in runs]),
            run_ids=tuple(r.id for r in runs),
        )

    # --- stage 4: statistics --------------------------------------------------------

    @staticmethod
    def compare(config: Config, baseline: Baseline) -> list[Comparison] | None:
        """Per-operation comparisons, or None when there is nothing comparable to test."""
        if baseline.old_samples is None or baseline.new_samples is None:
            return None
        wanted = {"p95", "error_rate", *metrics_for(config.gates)}
        settings = StatsSettings(
            alpha=config.compare.alpha,
            min_effect_pct=config.compare.min_effect * 100,
            paired=baseline.paired,
            metrics=tuple(m for m in METRICS if m in wanted),
        )
        return compare_runs(
            baseline.old_samples, baseline.new_samples, settings, baseline.run_level
        )

    # --- the whole run ---------------------------------------------------------------

    def execute(self) -> RunOutcome:
        git, config, head_spec, base_spec, diff, selection = self.prepare()
        store, run_id = self.store, self.run_id
        assert store is not None and run_id is not None
        if not selection.operations:
            verdict = Verdict("pass", (), "no operation changed; nothing to load-test")
            store.finish_run(run_id, "pass", {"reason": verdict.reason}, None)
            return RunOutcome(
                "pass",
                ExitCode.OK,
                run_id,
                self.head_sha,
                self.base_sha,
                self.profile,
                verdict.reason,
                None,
                "",
            )
        with _Stages(self.console) as stages:
            measured = self.measure(git, config, head_spec, base_spec, selection, stages)
        script, result, baseline = measured.script, measured.result, measured.baseline
        startup_s = measured.startup_s
        store.save_stats(run_id, result.script_hash, result.operations)
        store.save_errors(
            run_id,
            {op: s.errors_by_status for op, s in result.operations.items() if s.errors_by_status},
        )
        store.save_histograms(
            run_id, HISTOGRAM_ENCODING, {op: json.dumps(h) for op, h in result.histograms.items()}
        )
        store.save_resources(
            run_id, "head", [(s.ts, s.cpu_percent, s.rss_bytes) for s in measured.head_samples]
        )
        store.save_resources(
            run_id, "base", [(s.ts, s.cpu_percent, s.rss_bytes) for s in measured.base_samples]
        )
        if baseline.source == "none" and config.compare.mode != "off":
            note = baseline.note
            baseline = self.stored_baseline(git, config, script)
            if note:
                baseline.note = f"{note}; {baseline.note}"
        if baseline.run_id is not None:
            store.set_kind(run_id, "sequential", baseline.run_id)
            # Sequential runs compare per-second samples (unpaired) for errors and
            # throughput, and latency run against run, allowing for run-to-run noise.
            baseline.new_samples = series_samples(store, [run_id])
            baseline.run_level = run_level_samples(store, baseline.run_ids, run_id, LATENCY_METRICS)
        comparisons = self.compare(config, baseline)
        findings = resource_findings(
            ResourceSummary.of(measured.head_samples),
            result.total,
            ResourceSummary.of(measured.base_samples),
            baseline.total,
        ) + latency_findings(result.operations, baseline.stats, comparisons)
        store.save_findings(run_id, [f.to_dict() for f in findings])
        verdict = evaluate_with_comparisons(
            config.gates, result.operations, result.total, comparisons
        )
        store.save_gate_outcomes(run_id, _outcome_rows(verdict))
        headline = _headline(verdict, result.total)
        report = render_markdown(
            ReportData(
                repo=git.path.name,
                head_sha=self.head_sha,
                base_sha=self.base_sha,
                branch=self.request.branch,
                run_id=run_id,
                profile=self.profile,
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
                baseline_source=baseline.source,
                baseline_note=baseline.note,
                baseline_stats=baseline.stats,
                findings=tuple(findings),
                comparison_table=render_text(comparisons) if comparisons else "",
            )
        )
        report_path = write_report(
            report, _report_dir(config, git, self.home), self.head_sha, run_id
        )
        store.finish_run(run_id, verdict.status, _verdict_json(verdict), str(report_path))
        export_run(store, run_id, config, self.home)  # never raises: the sink never fails a run
        code = ExitCode.GATE_FAILED if verdict.status == "fail" else ExitCode.OK
        return RunOutcome(
            verdict.status,
            code,
            run_id,
            self.head_sha,
            self.base_sha,
            self.profile,
            headline,
            report_path,
            report,
        )


def run(request: RunRequest, *, console: Console | None = None) -> RunOutcome:
    state = _Run(request, console or Console(stderr=True))
    try:
        return state.execute()
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
        print(traceback.format_exc(), file=sys.stderr)
        err = InternalError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in PLog; please report it with the trace",
        )
        return _error_outcome(err, ExitCode.INTERNAL, state)
    finally:
        if state.store is not None:
            state.store.close()


def _outcome_rows(verdict: Verdict) -> list[dict[str, Any]]:
    decisive = {id(o) for o in verdict.decisive}
    return [
        {
            "gate": o.gate.label,
            "operation": o.operation,
            "level": o.gate.level,
            "value": o.value,
            "passed": o.passed,
            "decisive": id(o) in decisive,
            "detail": o.detail,
        }
        for o in verdict.outcomes
    ]


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


def _error_outcome(exc: PlogError, code: int, state: _Run) -> RunOutcome:
    if state.store is not None and state.run_id is not None:
        try:
            state.store.finish_run(
                state.run_id, "error", {"status": "error", "reason": exc.message}, None
            )
        except Exception as store_exc:  # keep the original error; note the second one
            print(
                f"warning: could not record the error in the results store: {store_exc}",
                file=sys.stderr,
            )
    return RunOutcome(
        "error",
        int(code),
        state.run_id,
        state.head_sha,
        state.base_sha,
        state.profile,
        str(exc),
        None,
        "",
    )
