"""Measure a plan: deploy the head (and the base beside it), run k6, sample resources.

Side by side (``compare.mode`` interleaved or duet, with a base that has the spec and
at least one picked operation): both sides are deployed (on loopback, or as two Helm
releases) and loaded by one k6 process, or ``load.runners`` execution segments of the
same script, interleaved in random turns or at once (duet), and the paired blocks
make the baseline. Otherwise the head alone is loaded and the live series
streams to the sinks; the baseline is looked up later among stored runs.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from plog_ci import proc
from plog_ci.ab import adaptive
from plog_ci.ab.baseline import Baseline, paired_baseline
from plog_ci.ab.cluster_resources import ClusterResources, after_load, cluster_samples
from plog_ci.ab.duet import run_duet
from plog_ci.ab.interleaved import head_and_base, round_order, run_scheduled
from plog_ci.ab.runners import Runners, cluster_hosts, load_head, runners_for, with_limit
from plog_ci.analysis.sequential_run import SequentialRun
from plog_ci.build.harbor_scan import ImageFacts
from plog_ci.config.model import LoadConfig
from plog_ci.deploy import isolation
from plog_ci.deploy.resources import Sample
from plog_ci.deploy.target import Side, Where, check_after_load, sampler_for, start_side
from plog_ci.errors import ConfigError, InputError, PlogError
from plog_ci.loadgen.script import Schedule, Script, generate
from plog_ci.openapi.model import Spec
from plog_ci.plan import Plan, config_at
from plog_ci.results import LoadResult, OperationStats
from plog_ci.series import SeriesFanout
from plog_ci.store.live import save_documents
from plog_ci.store.sqlite import ResultsStore

# Hard cap past the configured duration before k6 is killed.
K6_GRACE_S = 60.0


class Progress(Protocol):
    """How a long stage shows itself (``plog_ci.progress.StageProgress``)."""

    def stage(self, text: str, total: float | None = None) -> None: ...

    def advance_to(self, completed: float) -> None: ...

    def warn(self, text: str) -> None: ...


@dataclass(frozen=True)
class Recorder:
    """Where the measurement is recorded as it goes: the run's store row and live series."""

    store: ResultsStore
    run_id: int
    series: SeriesFanout
    allow_secrets: bool = True  # False for pull requests from forks
    pr_number: int | None = None  # names the helm target's job namespace
    repository: str | None = None  # a forge's owner/name; None: the repository folder's name


@dataclass(frozen=True)
class Measurement:
    """What was measured; ``image`` the head's pushed image and its judged Harbor scan
    (None: the image was not pushed, or the target is a process)."""

    script: Script
    result: LoadResult
    baseline: Baseline
    startup_s: float
    head_samples: list[Sample]
    base_samples: list[Sample] = field(default_factory=list)
    image: ImageFacts | None = None
    # Helm releases: their pods' resources from the cluster's Prometheus (``metrics``).
    cluster: ClusterResources | None = None
    sequential: SequentialRun | None = None  # compare.length adaptive (ab.adaptive)


@dataclass(frozen=True)
class Load:
    """One load test: the script k6 ran, what it measured, and the baseline it gave."""

    script: Script
    result: LoadResult
    baseline: Baseline
    sequential: SequentialRun | None = None


def stretched_load(load: LoadConfig, total_s: float) -> LoadConfig:
    """``load`` lasting ``total_s`` (stages scaled alike): an interleaved run's both sides."""
    if not load.stages:
        return replace(load, duration_s=total_s)
    factor = total_s / sum(stage.duration_s for stage in load.stages)
    return replace(
        load,
        duration_s=total_s,
        stages=tuple(replace(stage, duration_s=stage.duration_s * factor) for stage in load.stages),
    )


def side_by_side(plan: Plan) -> bool:
    """Whether the base is deployed beside the head (else: a sequential comparison)."""
    return (
        plan.config.compare.mode in ("duet", "interleaved")
        and plan.base_sha is not None
        and plan.base_spec is not None
        and any(plan.base_spec.find(op.key) for op in plan.selection.operations)
    )


def under_base_path(urls: str, spec: Spec) -> str:
    """The deployed service's URLs (space-separated replicas) with the spec's base path
    (Swagger 2.0 ``basePath``, OpenAPI 3 ``servers[0]``'s path): the operations' paths
    are under it on the service, as on the server the spec names."""
    return " ".join(url.rstrip("/") + spec.base_path for url in urls.split())


def warn_unsent(script: Script, progress: Progress) -> None:
    """Say, per operation, what the script could not send as the spec describes (an
    operation left out, a parameter dropped), as ``plog gen`` does: never in silence."""
    for warning in script.warnings:
        progress.warn(warning)


def measure(plan: Plan, recorder: Recorder, progress: Progress) -> Measurement:
    """Deploy, load and sample; services and the exported trees are gone on return."""
    config, head_sha = plan.config, plan.head_sha
    both = side_by_side(plan)
    # Recorded (run, store, temporary folder, children) so that if this process is
    # killed a new worker reaps what it left (plog_ci.reaper; inside a worker's job
    # the worker's own recording gets these labels).
    store_path = recorder.store.path
    with (
        proc.recording(
            store_path.parent / proc.RECORDS_DIR, run_id=recorder.run_id, store=str(store_path)
        ),
        tempfile.TemporaryDirectory(prefix="plog-run-") as tmp,
        ExitStack() as stack,
    ):
        proc.record_path(tmp)  # kept in the record until it closes: removed is harmless
        workdir = Path(tmp)
        progress.stage(f"Exporting {head_sha[:12]}")
        head_tree = plan.git.export(head_sha, workdir / "head")
        # Replicas only serve side-by-side comparisons (see compare.replicas).
        replicas = config.compare.replicas if both else 1
        progress.stage("Starting the service" + (f" ({replicas} replicas)" if replicas > 1 else ""))
        unisolated = isolation.available()
        if unisolated is not None:
            progress.warn(
                f"the service runs without a PID namespace ({unisolated}): a process it "
                "starts outside its process group (setsid) may outlive the run"
            )
        images: list[ImageFacts] = []
        head = start_side(
            config,
            config.service,
            head_tree,
            _where(plan, recorder, workdir, head_sha, "head"),
            stack,
            replicas=replicas,
            inherit_env=recorder.allow_secrets,
            stage=progress.stage,
            on_image=images.append,
        )
        image = images[0] if images else None
        startup_s = head.wait_healthy()
        base: Side | None = None
        note = plan.base_warning or ""
        if note:
            progress.warn(note)
        if both:
            try:
                base = _start_base(plan, recorder, workdir, stack, progress)
            except PlogError as exc:
                note = f"the base could not be deployed ({exc.message.splitlines()[0]})"
        head_sampler = sampler_for(head, stack)
        started = time.time()
        if base is None:
            load = _head_alone(plan, recorder, head, workdir, head_tree, progress, note)
            head_samples = head_sampler.stop()
            check_after_load(head, head_samples)
            cluster = after_load(config, {"head": head}, started, progress.stage)
            head_samples = cluster_samples(cluster, "head", head_samples)
            return Measurement(
                load.script,
                load.result,
                load.baseline,
                startup_s,
                head_samples,
                image=image,
                cluster=cluster,
            )
        base_sampler = sampler_for(base, stack)
        session = _Sides(plan, recorder, head, base, workdir, head_tree, progress)
        # A duet needs a scenario per operation and side: the closed model interleaves.
        duet = config.compare.mode == "duet" and (config.load.model or "open") == "open"
        load = session.duet() if duet else session.interleave()
        head_samples, base_samples = head_sampler.stop(), base_sampler.stop()
        check_after_load(head, head_samples)
        check_after_load(base, base_samples)
        cluster = after_load(config, {"head": head, "base": base}, started, progress.stage)
        head_samples = cluster_samples(cluster, "head", head_samples)
        base_samples = cluster_samples(cluster, "base", base_samples)
        return Measurement(
            load.script,
            load.result,
            load.baseline,
            startup_s,
            head_samples,
            base_samples,
            image,
            cluster,
            load.sequential,
        )


def _where(plan: Plan, recorder: Recorder, workdir: Path, sha: str, side: str) -> Where:
    store = recorder.store.path
    name = recorder.repository or plan.git.path.resolve().name
    return Where(sha, side, recorder.run_id, store.parent, workdir, name, recorder.pr_number)


def _start_base(
    plan: Plan, recorder: Recorder, workdir: Path, stack: ExitStack, progress: Progress
) -> Side:
    assert plan.base_sha is not None
    progress.stage(f"Starting the base {plan.base_sha[:12]} beside it")
    try:
        service = config_at(plan.git, plan.base_sha).service
    except (ConfigError, InputError):
        service = plan.config.service  # the base predates plog.yml: start it the head's way
    base_tree = plan.git.export(plan.base_sha, workdir / "base")
    # The head's deploy settings for both sides: the same target and resources.
    base = start_side(
        plan.config,
        replace(service, port=0),
        base_tree,
        _where(plan, recorder, workdir, plan.base_sha, "base"),
        stack,
        replicas=plan.config.compare.replicas,
        inherit_env=recorder.allow_secrets,
        stage=progress.stage,
    )
    base.wait_healthy()
    return base


def k6_secrets(script: Script, allow_secrets: bool) -> tuple[dict[str, str], tuple[str, ...]]:
    """Environment for k6's auth variables, and the values to redact from its log.

    A pull request from a fork runs without secrets: the variables are blanked
    for k6 (it would otherwise inherit them) as they are for the service.
    """
    if not allow_secrets:
        return {name: "" for name in script.secret_env}, ()
    values = tuple(v for name in script.secret_env if (v := os.environ.get(name)))
    return {}, values


def _head_alone(
    plan: Plan,
    recorder: Recorder,
    head: Side,
    workdir: Path,
    head_tree: Path,
    progress: Progress,
    note: str,
) -> Load:
    """The head alone; ``note`` says why there is no base beside it (or is empty)."""
    config, operations = plan.config, plan.selection.operations
    script = generate(
        plan.head_spec,
        operations,
        config.load,
        gates=config.gates,
        data_root=head_tree,
        allow_hosts=cluster_hosts(config, head),
    )
    warn_unsent(script, progress)
    extra_env, secrets = k6_secrets(script, recorder.allow_secrets)
    progress.stage(
        f"Load test: {len(operations)} operations, {config.load.duration_s:g} s",
        total=config.load.duration_s,
    )
    # One k6, or load.runners of them judged once on the merged result (ab.runners).
    result = load_head(
        config,
        script,
        head,
        under_base_path(head.base_url, plan.head_spec),
        workdir / "k6",
        run_id=recorder.run_id,
        timeout_s=config.load.duration_s + K6_GRACE_S,
        on_tick=recorder.series.ticker(progress.advance_to),
        on_second=recorder.series.collect,
        extra_env=extra_env,
        secrets=secrets,
        warn=progress.warn,
    )
    recorder.series.flush()
    return Load(script, result, Baseline("none", note=note))


@dataclass(frozen=True)
class _Sides:
    """Head and base deployed side by side, ready to load."""

    plan: Plan
    recorder: Recorder
    head: Side
    base: Side
    workdir: Path
    head_tree: Path
    progress: Progress

    @property
    def on_base(self) -> tuple[str, ...]:
        """Operations the base has: the others are not loaded there (nothing to compare)."""
        assert self.plan.base_spec is not None
        return tuple(
            op.key for op in self.plan.selection.operations if self.plan.base_spec.find(op.key)
        )

    @property
    def urls(self) -> dict[str, str]:
        assert self.plan.base_spec is not None
        return {
            "base": under_base_path(self.base.base_url, self.plan.base_spec),
            "head": under_base_path(self.head.base_url, self.plan.head_spec),
        }

    def _runners(self, script: Script, timeout_s: float) -> Runners:
        """load.runners for both sides (ab.runners: one k6, segments or a TestRun)."""
        env, keep = k6_secrets(script, self.recorder.allow_secrets)
        where, run_id = self.workdir / "k6", self.recorder.run_id
        return runners_for(self.plan.config, script, self.urls, self.head, where, run_id=run_id,
                           timeout_s=timeout_s, extra_env=env, secrets=keep)  # fmt: skip

    def _paired(
        self,
        kind: str,
        blocks: dict[str, list[LoadResult]],
        base: tuple[dict[str, OperationStats], OperationStats],
        how: str,
    ) -> Baseline:
        config, base_sha = self.plan.config, self.plan.base_sha or ""
        count = config.compare.replicas
        replicas = f", {count} processes per side taking turns" if count > 1 else ""
        return paired_baseline(
            self.recorder.store,
            self.recorder.run_id,
            kind,
            blocks,
            base,
            self.on_base,
            f"base {base_sha[:12]} deployed side by side{how}{replicas}",
        )

    def interleave(self) -> Load:
        config, operations = self.plan.config, self.plan.selection.operations
        store, run_id = self.recorder.store, self.recorder.run_id
        planned = adaptive.plan(
            config, self.on_base, lambda doc: save_documents(store, run_id, {"sequence": doc})
        )
        schedule, monitor = planned.schedule, planned.monitor
        if planned.note is not None:
            self.progress.warn(planned.note)
        rounds, block_s, turns, total = (
            schedule.count,
            schedule.block_s,
            schedule.turns,
            schedule.total_s,
        )
        # Each pair of turns in a round takes its own random order.
        order = round_order(rounds * turns, seed=int(self.plan.head_sha[:8], 16))
        script = generate(
            self.plan.head_spec,
            operations,
            stretched_load(config.load, total),
            gates=config.gates,
            data_root=self.head_tree,
            allow_hosts=cluster_hosts(config, self.head, self.base),
            schedule=Schedule(
                tuple(side for pair in order for side in pair), self.on_base, per_round=2 * turns
            ),
        )
        warn_unsent(script, self.progress)
        turns_note = f" in turns of {block_s / turns:.3g} s" if turns > 1 else ""
        stretched = schedule.stretch_line()
        if stretched is not None:
            self.progress.warn(stretched)
        self.progress.stage(
            f"Interleaved load test: {len(operations)} operations, base and head, "
            f"{'up to ' if monitor else ''}{rounds} rounds of {block_s:g} s per side{turns_note}",
            total=total,
        )
        series = self.recorder.series
        # Known now: the dashboard shows the run's kind while it runs.
        self.recorder.store.set_kind(self.recorder.run_id, "interleaved")
        outcome = run_scheduled(
            script,
            self.urls,
            self.workdir / "k6",
            timeout_s=total + K6_GRACE_S,
            on_tick=series.ticker(self.progress.advance_to),
            on_side=series.watch,
            on_round=monitor.look if monitor is not None else None,
            runners=self._runners(script, total + K6_GRACE_S),
        )
        series.flush()
        rounds, (result, base) = len(outcome.order), head_and_base(outcome, script.sha256)
        result = with_limit(result, outcome.runners, self.progress.warn)
        sequential = None
        if monitor is not None:
            sequential = monitor.close(outcome.round_stats())
            turns_note += f" (adaptive: {sequential.line()})"
        how = f", {rounds} interleaved rounds{turns_note}"
        baseline = self._paired("interleaved", outcome.blocks, base, how)
        return Load(script, result, baseline, sequential)

    def duet(self) -> Load:
        config, operations = self.plan.config, self.plan.selection.operations
        script = generate(
            self.plan.head_spec,
            operations,
            config.load,
            gates=config.gates,
            data_root=self.head_tree,
            allow_hosts=cluster_hosts(config, self.head, self.base),
            duet_base=self.on_base,
        )
        warn_unsent(script, self.progress)
        series = self.recorder.series
        self.progress.stage(
            f"Duet load test: {len(operations)} operations, base and head at once, "
            f"{script.duration_s:g} s",
            total=script.duration_s,
        )
        self.recorder.store.set_kind(self.recorder.run_id, "duet")
        outcome = run_duet(
            script,
            self.urls,
            self.workdir / "k6",
            rounds=config.compare.blocks,
            timeout_s=script.duration_s + K6_GRACE_S,
            on_tick=series.ticker(self.progress.advance_to),
            on_second=series.collect,
            on_side=series.watch,
            runners=self._runners(script, script.duration_s + K6_GRACE_S),
        )
        series.flush()
        how = (
            f" and loaded at the same time as the head, {len(outcome.blocks['head'])} paired blocks"
        )
        base = outcome.runs["base"]
        baseline = self._paired("duet", outcome.blocks, (base.operations, base.total), how)
        result = with_limit(outcome.runs["head"], outcome.runners, self.progress.warn)
        return Load(script, result, baseline)
