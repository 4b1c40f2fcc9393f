"""Interleaved A/B runs: base and head deployed side by side, load alternating in blocks.

Randomized multiple interleaved trials (RMIT): each round runs one short block
against each side, in an order drawn at random for that round, so slow drifts
and bursts of noise on a shared machine land on both sides alike. The blocks
give the repeated samples the statistics need (one per side per round).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from plog_ci.ab.runners import Runners
from plog_ci.config.compare_length import MIN_BLOCK_S
from plog_ci.errors import InternalError
from plog_ci.loadgen.script import SIDE_TAG, Script
from plog_ci.results import LoadResult, OperationStats, SetupTally
from plog_ci.runner.capture import Capture, SeriesCallback, stats_from
from plog_ci.runner.histogram import Histogram
from plog_ci.runner.histogram import merge as merge_histograms
from plog_ci.runner.k6 import HardCapReached, finish
from plog_ci.runner.segments import RunnerCapture, RunnerTally

SIDES = ("base", "head")
ROUND_TAG = "plog_round"  # a schedule's requests: which round they belong to
# What ``on_round`` gets: side -> the completed rounds' per-operation statistics.
RoundStats = dict[str, list[dict[str, OperationStats]]]


class StoppedEarly(HardCapReached):
    """Raised from the k6 wait's tick when ``on_round`` asks to stop: the wait stops k6
    (SIGTERM, its outputs flush) and keeps what it measured, as at its hard cap; the
    run then reports the completed rounds, not an aborted test (issue 22)."""

    def __init__(self, rounds: int) -> None:
        super().__init__(0.0)
        self.rounds = rounds


class _RoundWatch:
    """Which rounds are complete while k6 runs, from the block captures: round i is
    complete once round i+1 has requests on either side and every runner pushed again
    since (a push carries every series' cumulative state, so round i's last requests
    are in, from each of the ``runners``)."""

    def __init__(
        self, blocks: dict[str, list[Capture]], main: RunnerCapture, block_s: float, runners: int
    ) -> None:
        self.blocks = blocks
        self.main = main
        self.block_s = block_s
        self.runners = runners
        # round -> each runner's pushes when the round was first seen started
        self.started_push: dict[int, dict[str, int]] = {}
        self.stats: RoundStats = {side: [] for side in SIDES}

    def _pushed_since(self, before: dict[str, int]) -> bool:
        now = self.main.runner_pushes()
        return len(now) >= self.runners and all(n > before.get(r, 0) for r, n in now.items())

    def _started(self, index: int) -> bool:
        return any(
            sum(c[0] for c in self.blocks[side][index].counts().values()) > 0 for side in SIDES
        )

    def complete(self) -> int:
        """How many rounds are complete now; their statistics are in ``stats``."""
        rounds = len(self.blocks[SIDES[0]])
        nxt = len(self.stats[SIDES[0]]) + 1  # the round whose start completes the next one
        while nxt < rounds and nxt not in self.started_push and self._started(nxt):
            self.started_push[nxt] = self.main.runner_pushes()
        done = len(self.stats[SIDES[0]])
        while done + 1 in self.started_push and self._pushed_since(self.started_push[done + 1]):
            for side in SIDES:
                self.stats[side].append(self.blocks[side][done].stats(self.block_s)[0])
            done += 1
        return done


@dataclass(frozen=True)
class Rounds:
    """An interleaved run in time: ``count`` rounds, each loading each side for ``block_s``
    seconds, a side's block cut into ``turns`` turns; ``duration_s`` is the configured
    ``load.duration`` (seconds) that each side's blocks share."""

    count: int
    block_s: float
    turns: int
    duration_s: float

    @property
    def total_s(self) -> float:
        """Seconds of load, both sides together: 2 × count × block_s."""
        return 2 * self.count * self.block_s

    def stretch_line(self) -> str | None:
        """What to print when the blocks' minimum makes the load longer than twice
        ``load.duration``, with the numbers the schedule uses; None when it does not."""
        if self.total_s <= 2 * self.duration_s + 1e-9:
            return None
        return (
            f"interleaved: {self.count} rounds of at least {MIN_BLOCK_S:g} s per side: "
            f"the load runs {self.total_s:g} s (load.duration {self.duration_s:g}s); "
            "lower compare.blocks or raise load.duration to change it"
        )


def interleaved_rounds(duration_s: float, blocks: int, turn_s: float | None) -> Rounds:
    """The schedule an interleaved run uses: ``blocks`` rounds (``compare.blocks``), each
    side's block ``duration_s / blocks`` seconds but at least ``MIN_BLOCK_S``, cut into
    turns of about ``turn_s`` seconds (``compare.turn``; None or 0: one turn per block).
    The load lasts 2 × max(duration_s, blocks × MIN_BLOCK_S) seconds."""
    block_s = max(MIN_BLOCK_S, duration_s / blocks)
    turns = max(1, round(block_s / turn_s)) if turn_s else 1
    return Rounds(blocks, block_s, turns, duration_s)


@dataclass(frozen=True)
class InterleavedResult:
    blocks: dict[str, list[LoadResult]]  # side -> results in round order
    order: tuple[tuple[str, str], ...]  # the order of each round
    # failed exchanges (plog_ci.runner.exchanges): side -> operation -> exchanges
    exchanges: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    setup: tuple[SetupTally, ...] = ()  # what each producer made, per side
    runners: tuple[RunnerTally, ...] = ()  # load.runners > 1: each runner's tally

    def round_stats(self) -> RoundStats:
        """Side -> each round's per-operation statistics, in round order."""
        return {side: [b.operations for b in self.blocks[side]] for side in SIDES}


def round_order(rounds: int, seed: int) -> tuple[tuple[str, str], ...]:
    """Which side goes first in each round, drawn at random (seeded)."""
    rng = random.Random(seed)
    out = []
    for _ in range(rounds):
        sides = list(SIDES)
        rng.shuffle(sides)
        out.append((sides[0], sides[1]))
    return tuple(out)


def run_scheduled(
    script: Script,
    urls: dict[str, str],
    workdir: Path,
    *,
    timeout_s: float,
    on_tick: Callable[[float], None] | None = None,
    extra_env: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    on_side: Callable[[str], SeriesCallback] | None = None,
    on_round: Callable[[RoundStats], bool] | None = None,
    runners: Runners | None = None,
) -> InterleavedResult:
    """Interleaving inside one k6 process: ``script`` has a ``Schedule``.

    One process for the whole run keeps its connections to both sides warm and
    starts nothing between blocks (the duet probe saw whole-run offsets between
    the sides when every block started its own k6). The requests carry their
    side and round as tags; a capture per side and round reads each block's
    statistics exactly from k6's cumulative histograms.

    ``on_side(side)``, when given, is the callback that gets that side's points at each
    push (the live line and the dashboard, ``SeriesFanout.watch``), from a capture of
    that side across its rounds, on the capture's thread.

    ``on_round(stats)``, when given, is called on this thread after each completed round
    (side -> per-round statistics of every completed round, in round order; the last
    round is not seen: the caller judges the final blocks). True stops k6 then: the
    result holds the completed rounds only, ``aborted`` None (a decision, not a fault).

    ``runners`` (``ab.runners.runners_for``): the same schedule as N execution segments
    (local processes or a TestRun) pushing to one capture; the per-side and per-round
    captures merge them exactly, and stopping stops every runner. None: one local k6
    on ``urls`` with ``timeout_s``, ``extra_env`` and ``secrets``.
    """
    if runners is None:
        runners = Runners(
            script, urls, workdir, timeout_s, extra_env=extra_env or {}, secrets=secrets
        )
    if set(script.sides) != set(SIDES) or len(script.slots) < 2:
        raise InternalError("run_scheduled needs a script with a schedule (generate(schedule=))")
    per_round = script.per_round
    rounds = len(script.slots) // per_round
    block_captures = {
        side: [
            Capture(script.operations, where={SIDE_TAG: side, ROUND_TAG: str(index)})
            for index in range(rounds)
        ]
        for side in SIDES
    }
    # One capture per side over all its rounds feeds the live view: one point per push
    # and side, from that side's merged histograms, however the rounds turn (two block
    # captures at a round's boundary gave two points of one second, and the live seconds
    # drifted ahead of the clock).
    watchers = (
        tuple(
            Capture(
                script.operations,
                where={SIDE_TAG: side},
                on_second=on_side(side),
                merge_seconds=runners.count > 1,
            )
            for side in SIDES
        )
        if on_side is not None
        else ()
    )
    followers = tuple(c for side in SIDES for c in block_captures[side]) + watchers
    stopped: list[int] = []
    capture = runners.capture(followers=followers)
    watch = _RoundWatch(block_captures, capture, script.block_s, runners.count)
    seen = 0

    def tick(elapsed: float) -> None:
        nonlocal seen
        if on_tick is not None:
            on_tick(elapsed)
        if on_round is None or stopped:
            return
        done = watch.complete()
        if done > seen:
            seen = done
            if on_round(watch.stats):
                stopped.append(done)
                raise StoppedEarly(done)

    loaded = runners.run(capture, on_tick=tick, summary=False)
    ended = loaded.ended
    code, aborted = ended.code, ended.aborted
    if stopped:  # stopped on purpose: keep the completed rounds, report no abort
        rounds, code, aborted = stopped[0], 0, None
    block = replace(script, duration_s=script.block_s)
    blocks = {
        side: [
            finish(c, block, [code], script.block_s, None, aborted)
            for c in block_captures[side][:rounds]
        ]
        for side in SIDES
    }
    order = tuple(
        (script.slots[per_round * i], script.slots[per_round * i + 1]) for i in range(rounds)
    )
    return InterleavedResult(blocks, order, ended.exchanges, ended.setup, loaded.runners)


def _weighted(values: list[tuple[float, int]]) -> float:
    total = sum(n for _, n in values)
    return sum(v * n for v, n in values) / total if total else 0.0


def merge_stats(name: str, parts: list[OperationStats], duration_s: float) -> OperationStats:
    """Combine per-block statistics of one operation.

    Counts, failures and extremes combine exactly; percentiles are the
    request-weighted mean of the block percentiles, an approximation that is
    close when blocks are alike (exact merging needs the histograms).
    """
    parts = [p for p in parts if p.count > 0]
    if not parts:
        return OperationStats(name, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    count = sum(p.count for p in parts)
    errors: dict[str, int] = {}
    for p in parts:
        for status, n in p.errors_by_status.items():
            errors[status] = errors.get(status, 0) + n
    return OperationStats(
        operation=name,
        count=count,
        failures=sum(p.failures for p in parts),
        rps=count / duration_s if duration_s else 0.0,
        min=min(p.min for p in parts),
        mean=_weighted([(p.mean, p.count) for p in parts]),
        p50=_weighted([(p.p50, p.count) for p in parts]),
        p90=_weighted([(p.p90, p.count) for p in parts]),
        p95=_weighted([(p.p95, p.count) for p in parts]),
        p99=_weighted([(p.p99, p.count) for p in parts]),
        max=max(p.max for p in parts),
        errors_by_status=errors,
    )


def merge_side(
    results: list[LoadResult],
) -> tuple[dict[str, OperationStats], OperationStats, dict[str, dict[str, Any]]]:
    """One side's blocks as one run: exact (merged histograms) where every block has them."""
    duration = sum(r.duration_s for r in results)
    names = sorted({name for r in results for name in r.operations})
    per_op: dict[str, OperationStats] = {}
    merged_hists: dict[str, dict[str, Any]] = {}
    for name in names:
        parts = [r.operations[name] for r in results if name in r.operations]
        approx = merge_stats(name, parts, duration)
        hists = [r.histograms[name] for r in results if name in r.histograms]
        if hists and len(hists) == len(parts):
            hist = merge_histograms([Histogram.from_dict(h) for h in hists])
            merged_hists[name] = hist.to_dict()
            per_op[name] = stats_from(
                name, hist, (approx.count, approx.failures, approx.errors_by_status), duration
            )
        else:
            per_op[name] = approx
    approx_total = merge_stats("*", [r.total for r in results], duration)
    if merged_hists and len(merged_hists) == len(names):
        everything = merge_histograms([Histogram.from_dict(h) for h in merged_hists.values()])
        total = stats_from(
            "*",
            everything,
            (approx_total.count, approx_total.failures, approx_total.errors_by_status),
            duration,
        )
    else:
        total = approx_total
    return per_op, total, merged_hists


def head_and_base(
    outcome: InterleavedResult, script_hash: str
) -> tuple[LoadResult, tuple[dict[str, OperationStats], OperationStats]]:
    """The head's blocks merged into the run's result, and the base's per-operation
    statistics and total merged alike."""
    head_blocks = outcome.blocks["head"]
    head_ops, head_total, head_hists = merge_side(head_blocks)
    base_ops, base_total, _ = merge_side(outcome.blocks["base"])
    result = LoadResult(
        head_ops,
        head_total,
        sum(r.duration_s for r in head_blocks),
        max((r.k6_exit_code for r in head_blocks), default=0),
        script_hash,
        histograms=head_hists,
        aborted=next((r.aborted for r in head_blocks if r.aborted), None),
        exchanges=outcome.exchanges.get("head", {}),
        setup=outcome.setup,
    )
    return result, (base_ops, base_total)
