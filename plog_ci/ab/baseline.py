"""The baseline a head run is compared with, and why (shown in the report).

Side by side (interleaved or duet): the base deployed beside the head, paired block
by block. Otherwise, sequential: stored runs found by the ``compare.baseline``
policy (the base commit, the previous commit, the last passing runs of a branch),
only among runs whose generated script and environment match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from plog_ci.ab.interleaved import merge_stats
from plog_ci.analysis.blocks import block_samples
from plog_ci.analysis.comparison import LATENCY_METRICS
from plog_ci.analysis.samples import OperationSamples, RunLevelSamples
from plog_ci.analysis.stored_runs import run_level_samples, series_samples
from plog_ci.config import Config
from plog_ci.results import LoadResult, OperationStats
from plog_ci.runner.environment import environment_fingerprint
from plog_ci.store.sqlite import ResultsStore, RunRecord


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


def paired_baseline(
    store: ResultsStore,
    run_id: int,
    kind: str,
    blocks: dict[str, list[LoadResult]],
    base: tuple[dict[str, OperationStats], OperationStats],
    on_base: tuple[str, ...],
    note: str,
) -> Baseline:
    """Store a side-by-side run's paired blocks (side -> blocks); the baseline they make.

    ``base``: the base side's per-operation statistics and total; ``on_base``: the
    operations the base has (only those compare); ``note``: how the base was run.
    """
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
    base_ops, base_total = base
    comparable = {op: s for op, s in base_ops.items() if op in on_base}
    return Baseline(
        kind,
        comparable,
        per_block,
        note,
        total=base_total,
        old_samples={op: s for op, s in samples["base"].items() if op in comparable},
        new_samples=samples["head"],
        paired=True,
    )


@dataclass(frozen=True)
class History:
    """Where to look for stored baselines: the run being made and its commits."""

    repo: str  # the repository's resolved path, as stored
    run_id: int
    head_sha: str
    parent: str | None  # the head's first parent
    base_sha: str | None  # the base asked for (None: none was named)
    branch: str | None


def stored_baseline(
    store: ResultsStore, config: Config, script_hash: str, where: History
) -> Baseline:
    """The sequential baseline that ``compare.baseline`` picks, or ``none`` with what was
    tried. Runs compare only when the generated script and the environment match."""
    env = environment_fingerprint()
    policy = config.compare.baseline
    tried: list[str] = []

    def comparable(
        commit_sha: str | None = None,
        branch: str | None = None,
        passing_only: bool = False,
        limit: int = 1,
    ) -> list[RunRecord]:
        return store.comparable_runs(
            where.repo,
            script_hash=script_hash,
            environment=env,
            commit_sha=commit_sha,
            branch=branch,
            passing_only=passing_only,
            exclude=where.run_id,
            limit=limit,
        )

    if policy in ("auto", "base") and where.base_sha:
        found = comparable(commit_sha=where.base_sha)
        tried.append(f"base {where.base_sha[:12]}")
        if found:
            return from_runs(store, found, f"stored run #{found[0].id} of the base")
    if policy in ("auto", "previous") and where.parent:
        found = comparable(commit_sha=where.parent)
        tried.append(f"previous commit {where.parent[:12]}")
        if found:
            return from_runs(store, found, f"stored run #{found[0].id} of the previous commit")
    branch = config.compare.branch or where.branch
    if policy in ("auto", "branch") and branch:
        found = comparable(branch=branch, passing_only=True, limit=config.compare.last_n)
        tried.append(f"passing runs on {branch}")
        if found:
            return from_runs(store, found, f"last {len(found)} passing runs on {branch}")
    return Baseline(
        "none",
        note="no comparable baseline (tried: "
        + (", ".join(tried) or "nothing to try")
        + "; runs compare only when "
        "the generated script and the environment match)",
    )


def from_runs(store: ResultsStore, runs: Sequence[RunRecord], source: str) -> Baseline:
    """A baseline of stored ``runs`` (newest first): merged statistics, per-second samples."""
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


def judge_sequentially(store: ResultsStore, run_id: int, baseline: Baseline) -> None:
    """Complete a stored-runs baseline for run ``run_id``: record which run it is compared
    with, and give it the head's per-second samples (unpaired, for errors and
    throughput) and latency run against run, allowing for run-to-run noise."""
    if baseline.run_id is None:
        return
    store.set_kind(run_id, "sequential", baseline.run_id)
    baseline.new_samples = series_samples(store, [run_id])
    baseline.run_level = run_level_samples(store, baseline.run_ids, run_id, LATENCY_METRICS)
