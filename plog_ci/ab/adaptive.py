"""``compare.length: adaptive`` for an interleaved run (issue 22): the schedule planned
for ``compare.max_duration``, and the monitor that looks after every round and stops
the load once every relative gate is decided (``analysis.sequential_run``).

The rounds keep the block length the fixed run would use (load.duration split into
compare.blocks rounds), so an adaptive run is the fixed run made longer or cut short.
Without a relative gate on p50/p95/p99/rps there is nothing to decide round by
round: the run keeps its fixed length (``plan`` returns no monitor and says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from plog_ci.ab.interleaved import Rounds, interleaved_rounds
from plog_ci.analysis.sequential_run import NOTHING_FOLLOWED, Monitor, family
from plog_ci.config import Config
from plog_ci.config.compare_length import adaptive_rounds


@dataclass(frozen=True)
class AdaptivePlan:
    """The schedule to run, the monitor (None: a fixed-length run), and a line to
    warn with (None: nothing to say)."""

    schedule: Rounds
    monitor: Monitor | None
    note: str | None = None


def plan(
    config: Config,
    operations: Sequence[str],
    on_look: Callable[[dict[str, Any]], None] | None = None,
) -> AdaptivePlan:
    """The interleaved run for ``config`` over ``operations`` (those the base has):
    fixed, or adaptive with as many rounds of the fixed block length as
    compare.max_duration holds (at least compare.blocks)."""
    compare = config.compare
    fixed = interleaved_rounds(config.load.duration_s, compare.blocks, compare.turn_s)
    if compare.length != "adaptive":
        return AdaptivePlan(fixed, None)
    limits, decisive = family(config.gates, operations)
    if not limits:
        return AdaptivePlan(
            fixed,
            None,
            NOTHING_FOLLOWED + " (no relative gate names an operation the base has)"
            if any(g.relative for g in config.gates)
            else NOTHING_FOLLOWED,
        )
    longest = compare.max_duration_s or 4 * config.load.duration_s
    count = adaptive_rounds(compare.blocks, fixed.block_s, longest)
    schedule = Rounds(count, fixed.block_s, fixed.turns, count * fixed.block_s)
    monitor = Monitor(
        limits,
        decisive,
        alpha=compare.alpha,
        min_effect_pct=compare.min_effect * 100,
        target_rounds=compare.blocks,
        max_rounds=count,
        block_s=fixed.block_s,
        beta=compare.beta,
        on_look=on_look,
    )
    return AdaptivePlan(schedule, monitor)
