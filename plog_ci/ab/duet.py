"""Duet A/B runs: one k6 process loads base and head at the same time.

Each operation has a scenario per side at the same rate, in one k6 process
(``generate(..., duet_base=...)``), so whatever the machine does in a given
second (a neighbour's burst, a frequency change, k6's own garbage collection)
lands on both sides in that second. One k6 process matters: in the duet probe
(docs/statistics.md keeps its figures) two k6 processes started together left
one side slower for whole runs, about as often as interleaving's short k6 runs
did, while one process held the A/A spread of the whole-run p95 ratio to a third.

The capture splits the pushes by the ``plog_side`` label; consecutive pushes
(about a second each) are grouped into ``rounds`` blocks, and block i of the
base and block i of the head cover the same seconds: the pairs the paired tests
need. Which side a block's requests came from is the only difference between
the two, so under no change the two blocks of a pair are exchangeable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plog_ci.ab.runners import Runners
from plog_ci.errors import InternalError
from plog_ci.loadgen.script import SIDE_TAG, Script
from plog_ci.results import LoadResult, OperationStats, SeriesPoint
from plog_ci.runner.capture import (
    PUSH_INTERVAL_S,
    Delta,
    SeriesCallback,
    stats_from,
    sum_status,
)
from plog_ci.runner.histogram import Histogram, merge
from plog_ci.runner.k6 import finish
from plog_ci.runner.segments import PooledCapture, RunnerTally

SIDES = ("base", "head")


@dataclass(frozen=True)
class DuetResult:
    runs: dict[str, LoadResult]  # side -> the whole run of that side
    blocks: dict[str, list[LoadResult]]  # side -> blocks; block i of both sides: the same seconds
    runners: tuple[RunnerTally, ...] = ()  # load.runners > 1: each runner's tally


def run_duet(
    script: Script,
    urls: dict[str, str],
    workdir: Path,
    *,
    rounds: int,
    timeout_s: float,
    on_tick: Callable[[float], None] | None = None,
    on_second: Callable[[list[SeriesPoint]], None] | None = None,
    extra_env: dict[str, str] | None = None,
    secrets: Sequence[str] = (),
    on_side: Callable[[str], SeriesCallback] | None = None,
    runners: Runners | None = None,
) -> DuetResult:
    """Run a duet ``script`` against ``urls`` (base and head); ``on_second`` gets the
    head's points (the run's series), ``on_side(side)`` each side's (the live line).

    ``runners`` (``ab.runners.runners_for``): N execution segments (local or a TestRun)
    pushing to one capture; each side's capture pools them, so a push's delta is one
    runner's second and both sides' deltas of a push stay paired. None: one local k6
    on ``urls`` with ``timeout_s``, ``extra_env`` and ``secrets``."""
    if set(script.sides) != set(SIDES):
        raise InternalError("run_duet needs a duet script (generate(..., duet_base=...))")
    if runners is None:
        runners = Runners(
            script, urls, workdir, timeout_s, extra_env=extra_env or {}, secrets=secrets
        )
    watch = {side: on_side(side) for side in SIDES} if on_side is not None else {}

    def head_points(points: list[SeriesPoint]) -> None:
        if on_second is not None:
            on_second(points)
        if "head" in watch:
            watch["head"](points)

    # The sides' captures follow the run's capture: every push reaches both, in step.
    base_capture = PooledCapture(
        script.operations, where={SIDE_TAG: "base"}, keep_deltas=True, on_second=watch.get("base")
    )
    head_capture = PooledCapture(
        script.operations, where={SIDE_TAG: "head"}, keep_deltas=True, on_second=head_points
    )
    capture = runners.capture(followers=(head_capture, base_capture))
    loaded = runners.run(capture, on_tick=on_tick, summary=runners.count <= 1)
    ended = loaded.ended
    runs = {
        "head": finish(
            head_capture,
            script,
            [ended.code],
            ended.elapsed,
            ended.summary_path,
            ended.aborted,
            ended.exchanges.get("head", {}),
            ended.setup,  # both sides' tallies: the report shows them side by side
        ),
        "base": finish(
            base_capture,
            script,
            [ended.code],
            ended.elapsed,
            None,
            ended.aborted,
            ended.exchanges.get("base", {}),
        ),
    }
    code = ended.code
    assert head_capture.deltas is not None and base_capture.deltas is not None
    blocks = pair_blocks(
        {"base": list(base_capture.deltas), "head": list(head_capture.deltas)},
        rounds,
        script,
        code,
        runners.count,
    )
    return DuetResult(runs, blocks, loaded.runners)


def pair_blocks(
    deltas: dict[str, list[dict[str, Delta]]],
    rounds: int,
    script: Script,
    code: int,
    runners: int = 1,
) -> dict[str, list[LoadResult]]:
    """Group adjacent pushes into at most ``rounds`` blocks holding about equal requests;
    ``runners`` push once a second each, so a block of n pushes lasts n / runners s.

    Grouping by requests rather than by pushes folds the partial seconds at the
    start and end of the load into their neighbours, and no request is left out:
    the blocks of a side pool to exactly that side's whole run.
    """
    count = min(len(deltas["base"]), len(deltas["head"]))
    sizes = np.array(
        [sum(d.requests for side in SIDES for d in deltas[side][i].values()) for i in range(count)],
        dtype=float,
    )
    busy = np.flatnonzero(sizes > 0)
    if busy.size == 0:
        return {side: [] for side in SIDES}
    weights = sizes[busy]
    middle = np.cumsum(weights) - weights / 2  # where each push sits among the requests
    group = np.minimum((middle / weights.sum() * rounds).astype(int), rounds - 1)
    groups = [busy[group == g] for g in np.unique(group)]
    return {
        side: [_block([deltas[side][int(i)] for i in g], script, code, runners) for g in groups]
        for side in SIDES
    }


def _block(pushes: list[dict[str, Delta]], script: Script, code: int, runners: int) -> LoadResult:
    duration = len(pushes) * PUSH_INTERVAL_S / max(1, runners)
    per_op: dict[str, OperationStats] = {}
    hists: dict[str, Histogram] = {}
    for op in script.operations:
        parts = [push[op] for push in pushes if op in push]
        hist = merge([p.histogram for p in parts]) if parts else Histogram()
        requests = sum(p.requests for p in parts)
        failures = sum(p.failures for p in parts)
        errors = sum_status([p.errors_by_status for p in parts])
        per_op[op] = stats_from(op, hist, (requests, failures, errors), duration)
        hists[op] = hist
    total = stats_from(
        "*",
        merge(list(hists.values())) if hists else None,
        (
            sum(s.count for s in per_op.values()),
            sum(s.failures for s in per_op.values()),
            sum_status([s.errors_by_status for s in per_op.values()]),
        ),
        duration,
    )
    return LoadResult(
        per_op,
        total,
        duration,
        code,
        script.sha256,
        histograms={op: h.to_dict() for op, h in hists.items()},
    )
