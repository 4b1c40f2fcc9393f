"""An adaptive interleaved comparison as it runs (issue 22): the family of sequences
its relative gates make, a look after every completed round, and what it ends with.

The statistics are ``analysis.sequential`` (a confidence sequence per sequence,
Bonferroni across the family, valid at every look). Here: which sequences a config's
gates make (``family``), the ``Monitor`` that the run calls after each round with the
rounds' per-operation statistics, and the ``SequentialRun`` it ends with: the
finished verdict, every look's intervals (for the run page and the live view) and the
line the verdict leads with ("decided after 42 s: GET /pets/{petId} +38% [+22%, +55%]",
"ran the full 120 s: GET /pets within ±6%"). Pure: no I/O (the caller stores looks).

Rule: ``significant``, today's relative-gate semantics made sequential: a regression
is a change significantly above zero whose estimate is beyond the threshold, "within"
an interval wholly below the threshold (docs/sequential.md, "Decisions").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plog_ci.analysis.blocks import block_samples
from plog_ci.analysis.sequential import (
    SEQUENTIAL_METRICS,
    Limit,
    Rule,
    SequenceDecision,
    SequentialVerdict,
    decide,
    finish,
    paired_log_ratios,
    should_stop,
)
from plog_ci.gate_grammar import Gate
from plog_ci.results import OperationStats

# One sequence: (operation, metric, the gate's label): two gates on one metric (a warn
# at +5%, a fail at +20%) are two sequences of the family.
Key = tuple[str, str, str]
RULE: Rule = "significant"
SHOWN = 3  # sequences named in the verdict's line; the rest are counted
NO_VERDICT_HINT = (
    "for a verdict: less noise per round (a higher load.rate, compare.replicas) "
    "or a longer compare.max_duration"
)


def family(gates: Sequence[Gate], operations: Sequence[str]) -> tuple[dict[Key, Limit], set[Key]]:
    """The sequences the relative gates on p50/p95/p99/rps make over ``operations`` (a
    gate without an operation: every one), with their limits, and the keys whose
    regression fails the run (level fail). Other gates are not followed."""
    limits: dict[Key, Limit] = {}
    decisive: set[Key] = set()
    for gate in gates:
        if not gate.relative or gate.metric not in SEQUENTIAL_METRICS:
            continue
        targets = [gate.operation] if gate.operation is not None else list(operations)
        for name in targets:
            if name not in operations:
                continue
            key = (name, gate.metric, gate.label)
            limits[key] = Limit(gate.threshold, upward=gate.op in ("<", "<="))
            if gate.level == "fail":
                decisive.add(key)
    return limits, decisive


def followed(gate: Gate) -> bool:
    """Whether an adaptive run decides ``gate`` sequentially (else the fixed test does)."""
    return gate.relative and gate.metric in SEQUENTIAL_METRICS


# What `plog validate`, the run and its report say when nothing can be followed.
NOTHING_FOLLOWED = (
    "compare.length adaptive: no relative gate on p50, p95, p99 or rps to decide "
    "round by round; the comparison runs its fixed length"
)


def nothing_followed(length: str, gates: Sequence[Gate]) -> str | None:
    """:data:`NOTHING_FOLLOWED` when ``length`` is adaptive and no gate is followed."""
    if length != "adaptive" or any(followed(g) for g in gates):
        return None
    return f"{NOTHING_FOLLOWED}; add one, e.g. 'p95 <= +10%', or set length: fixed"


@dataclass(frozen=True)
class Look:
    """The family after ``rounds`` completed rounds (``seconds`` of load per side)."""

    rounds: int
    seconds: float
    verdict: SequentialVerdict[Key]


def _pct(value: float | None) -> str:
    return f"{value:+.0f}%" if value is not None else "?"


@dataclass(frozen=True)
class SequentialRun:
    """How an adaptive comparison ended: ``verdict`` finished (undecided -> no-verdict),
    ``looks`` in order, ``why`` it stopped, ``seconds`` of load per side it ran and
    ``max_seconds`` it could have (compare.max_duration), ``block_s`` per round."""

    verdict: SequentialVerdict[Key]
    looks: tuple[Look, ...]
    why: str
    seconds: float
    max_seconds: float
    block_s: float
    early: bool = False  # stopped by a decision before max_seconds

    def decision(self, key: Key) -> SequenceDecision[Key] | None:
        return self.verdict.get(key)

    def line(self) -> str:
        """The verdict's lead: how long the test ran, why it stopped, what it found."""
        if self.early and all(d.decided for d in self.verdict.decisions):
            how = f"decided after {self.seconds:.0f} s"
        elif self.early:  # a fail-level regression ends the run whatever the rest shows
            how = f"stopped after {self.seconds:.0f} s on a regression"
        elif self.seconds >= self.max_seconds - 1e-6:
            how = f"ran the full {self.seconds:.0f} s"
        else:  # k6 ended before the schedule did (an abort): say how far it got
            how = f"ran {self.seconds:.0f} s of {self.max_seconds:.0f} s"
        metrics = {d.key[1] for d in self.verdict.decisions}
        order = {"regression": 0, "no-verdict": 1, "undecided": 1, "within": 2}
        parts: list[str] = []
        for d in sorted(self.verdict.decisions, key=lambda d: order.get(d.decision, 1)):
            name = d.key[0] if len(metrics) == 1 else f"{d.key[0]} {d.key[1]}"
            ci = f"[{_pct(d.low_pct)}, {_pct(d.high_pct)}]"
            if d.decision == "regression":
                text = f"{name} {_pct(d.estimate_pct)} {ci}"
            elif d.decision == "within" and d.within_bound_pct is not None:
                # An upper bound for a gate against increases, a lower one against drops.
                most = "most" if d.within_bound_pct >= (d.estimate_pct or 0.0) else "least"
                bound = f"{d.within_bound_pct:+.1f}%"  # +4.96% is not "at most +5%"
                text = f"{name} within {d.threshold_pct:+g}% (at {most} {bound})"
            elif d.low_pct is not None:
                text = f"{name} no verdict {ci}"
            else:
                text = f"{name} no verdict"
            if text not in parts:
                parts.append(text)
        shown = "; ".join(parts[:SHOWN])
        if len(parts) > SHOWN:
            shown += f"; and {len(parts) - SHOWN} more"
        if not self.early and any(not d.decided for d in self.verdict.decisions):
            # The interval was still too wide: the noise per round, or too few rounds.
            shown += f" ({NO_VERDICT_HINT})"
        return f"{how}: {shown}" if shown else how

    def to_json(self) -> dict[str, Any]:
        """The run's ``sequence`` document: the family, then per look the interval of
        each sequence in the family's order ``[estimate, low, high, decision]`` (percent;
        None while unbounded)."""
        return sequence_document(self.verdict, self.looks, self.block_s, self.max_seconds) | {
            "why": self.why,
            "line": self.line(),
            "seconds": self.seconds,
            "final": True,
        }


def sequence_document(
    verdict: SequentialVerdict[Key],
    looks: Sequence[Look],
    block_s: float,
    max_seconds: float,
) -> dict[str, Any]:
    """The ``sequence`` document so far (see ``SequentialRun.to_json``)."""
    return {
        "rule": verdict.rule,
        "alpha": verdict.alpha,
        "family": verdict.family,
        "block_s": block_s,
        "max_seconds": max_seconds,
        "final": False,
        "sequences": [
            {
                "operation": d.key[0],
                "metric": d.key[1],
                "gate": d.key[2],
                "threshold_pct": d.threshold_pct,
                "decision": d.decision,
                "decided_at": d.decided_at,
                "reason": d.reason,
            }
            for d in verdict.decisions
        ],
        "looks": [
            {
                "rounds": look.rounds,
                "seconds": look.seconds,
                "intervals": [
                    [d.estimate_pct, d.low_pct, d.high_pct, d.decision]
                    for d in look.verdict.decisions
                ],
            }
            for look in looks
        ],
    }


@dataclass
class Monitor:
    """Looks after each completed round; ``look`` says whether to stop.

    ``limits``/``decisive``: from :func:`family`; ``alpha``: compare.alpha (family-wise);
    ``min_effect_pct``: compare.min_effect in percent; ``target_rounds``: the planned
    rounds (compare.blocks); ``max_rounds``: the rounds max_duration holds;
    ``block_s``: one side's block per round, seconds; ``beta``: compare.beta, the
    level of "within" decisions (None: the alpha share); ``on_look``: gets the
    ``sequence`` document after each look (the caller stores it for the live view).
    """

    limits: dict[Key, Limit]
    decisive: set[Key]
    alpha: float
    min_effect_pct: float
    target_rounds: int
    max_rounds: int
    block_s: float
    beta: float | None = None
    on_look: Callable[[dict[str, Any]], None] | None = None
    looks: list[Look] = field(default_factory=list)
    why: str = "no look yet"
    stopped: bool = False  # a look asked to stop before max_rounds

    def _verdict(
        self, rounds: Mapping[str, Sequence[Mapping[str, OperationStats]]]
    ) -> SequentialVerdict[Key]:
        n = min(len(rounds["base"]), len(rounds["head"]))
        durations = [self.block_s] * n
        base = block_samples([dict(r) for r in rounds["base"][:n]], durations)
        head = block_samples([dict(r) for r in rounds["head"][:n]], durations)
        metrics = tuple(m for m in SEQUENTIAL_METRICS if any(k[1] == m for k in self.limits))
        ratios, _ = paired_log_ratios(base, head, metrics)
        paired = {key: ratios.get((key[0], key[1]), ()) for key in self.limits}
        return decide(
            paired,
            self.limits,
            alpha=self.alpha,
            min_effect_pct=self.min_effect_pct,
            target_rounds=self.target_rounds,
            rule=RULE,
            beta=self.beta,
        )

    def look(self, rounds: Mapping[str, Sequence[Mapping[str, OperationStats]]]) -> bool:
        """After a completed round: ``rounds`` is side ("base", "head") -> every completed
        round's per-operation statistics, in order. True: stop the load now."""
        n = min(len(rounds["base"]), len(rounds["head"]))
        if self.looks and self.looks[-1].rounds == n:
            return False
        verdict = self._verdict(rounds)
        self.looks.append(Look(n, n * self.block_s, verdict))
        stop, self.why = should_stop(verdict, self.max_rounds, self.decisive)
        self.stopped = stop and n < self.max_rounds
        if self.on_look is not None:
            self.on_look(
                sequence_document(verdict, self.looks, self.block_s, self.max_rounds * self.block_s)
            )
        return stop

    def close(self, rounds: Mapping[str, Sequence[Mapping[str, OperationStats]]]) -> SequentialRun:
        """The end: a last look at the final rounds (unless already seen), then every
        sequence still undecided gives no verdict."""
        self.look(rounds)
        last = self.looks[-1]
        run = SequentialRun(
            finish(last.verdict),
            tuple(self.looks),
            self.why,
            last.seconds,
            self.max_rounds * self.block_s,
            self.block_s,
            self.stopped,
        )
        if self.on_look is not None:
            self.on_look(run.to_json())
        return run
