"""Sequential paired comparisons: decide each relative gate as soon as the rounds so far
make it clear, with the family-wise error held at every look (issue 22).

Input per (operation, metric) is the sequence of paired log ratios
``d_i = log(head_i / base_i)`` of one round's block values (:func:`log_ratios`,
:func:`paired_log_ratios`). For each sequence a confidence sequence (CS) for the mean
log ratio is computed at every prefix (``analysis.sequential_bounds``: the
scale-invariant Gaussian-mixture t-test martingale), and the running intersection of
those intervals is kept, which stays valid and only narrows. Against a gate
``metric <= +T%`` with ``tau = log(1 + T/100)`` (raised to the minimum effect, so no
change below it is ever claimed):

* ``rule="beyond"`` (default): "regression" once the CS lies wholly above tau: the
  change is beyond the gate with confidence; "within" once it lies wholly below tau.
* ``rule="significant"``: today's relative-gate semantics made sequential:
  "regression" once the CS lies wholly above zero (a significant increase) with the
  estimate beyond tau; "within" as above. Its false regressions are bounded against
  "no change", not against the threshold.

"Within" may use a second CS at its own level ``beta`` (a miss, calling a change
beyond the gate within it, is the type II error: Wald's sequential test has the two
error rates alpha and beta; beta 0.2 is the 80% power of sample-size tables). At
alpha/m an unchanged commit needs about three times the rounds to be called within
a tight gate (docs/sequential.md).

A sequence is decided at the first prefix (of at least ``min_rounds`` rounds) where
one holds, and stays decided. Family: every key of ``limits`` is one sequence;
each CS is built at ``alpha / m`` (Bonferroni). Each CS covers its mean at every n
at once with probability 1 - alpha/m, so by the union bound all m cover at every
n with probability 1 - alpha; any stopping time, data-driven or not, is one of
those n, so stopping when things look clear keeps the family-wise error at alpha.
Pure functions, no I/O; docs/sequential.md has the method and its simulation.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from plog_ci.analysis.samples import OperationSamples
from plog_ci.analysis.sequential_bounds import mixture_precision, t_mixture_radius
from plog_ci.config.compare_length import MIN_ROUNDS

K = TypeVar("K", bound=Hashable)
Rule = Literal["beyond", "significant"]
DECISIONS = ("regression", "within", "undecided", "no-verdict")
# The per-round metrics a sequence can follow; the error rate is a count per round
# (mostly zeros), so it stays with the fixed test on the pooled counts.
SEQUENTIAL_METRICS = ("p50", "p95", "p99", "rps")
# No decision before MIN_ROUNDS usable rounds (8, config.compare_length, where plog.yml
# is checked against it). The level holds from the second round, heavy tails too
# (bench/sequential_level.py), and at alpha/m = 0.005 the boundary cannot exclude
# anything before round 8 anyway (round 7 at 0.01, 6 at 0.05); 8 keeps the first
# rounds (warm-up, a runner settling) from deciding alone.


@dataclass(frozen=True)
class Limit:
    """A relative gate's limit: ``threshold_pct`` is its T in percent (``p95 <= +10%``:
    10.0; ``rps >= -5%``: -5.0); ``upward`` True when an increase breaks it (``<``,
    ``<=``), False when a drop does (``>``, ``>=``)."""

    threshold_pct: float
    upward: bool = True

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold_pct) or self.threshold_pct <= -100:
            raise ValueError(f"threshold {self.threshold_pct!r}% is not a relative change")


@dataclass(frozen=True)
class SequenceDecision(Generic[K]):
    """One (operation, metric) sequence after the rounds so far.

    ``decision``: one of DECISIONS; ``decided_at``: usable rounds when it was first
    decided (None while undecided); ``rounds``: usable rounds now; ``dropped``: rounds
    left out (NaN, inf, or a ratio of non-positive values); ``estimate_pct``: the
    mean log ratio as a percent change; ``low_pct``/``high_pct``: the CS at level
    ``alpha`` (the per-sequence share), percent, None while unbounded;
    ``within_bound_pct``: the bound in the breaking direction of the CS at level
    ``beta`` that decides "within" (percent, signed like the change; None while
    unbounded; equal to the matching end of the alpha CS when beta is alpha).
    """

    key: K
    decision: str
    reason: str
    rounds: int
    decided_at: int | None
    dropped: int
    estimate_pct: float | None
    low_pct: float | None
    high_pct: float | None
    threshold_pct: float
    alpha: float
    beta: float | None = None
    within_bound_pct: float | None = None

    @property
    def decided(self) -> bool:
        return self.decision in ("regression", "within")


@dataclass(frozen=True)
class SequentialVerdict(Generic[K]):
    """Every sequence of the family, in the order of ``limits``; ``alpha`` is the
    family's level, each sequence holds ``alpha / family``; ``rounds`` the most
    usable rounds of any sequence."""

    decisions: tuple[SequenceDecision[K], ...]
    alpha: float
    family: int
    rounds: int
    rule: str

    def get(self, key: K) -> SequenceDecision[K] | None:
        return next((d for d in self.decisions if d.key == key), None)


def log_ratios(base: Sequence[float], head: Sequence[float]) -> tuple[tuple[float, ...], int]:
    """Paired log ratios ``log(head_i / base_i)`` of one metric's round values, and how
    many rounds were left out (a non-finite or non-positive value on either side: an
    empty block, a zero throughput). Raises ValueError when the lengths differ."""
    if len(base) != len(head):
        raise ValueError(f"{len(base)} base rounds against {len(head)} head rounds")
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.asarray(base, dtype=float)
        h = np.asarray(head, dtype=float)
        ok = np.isfinite(b) & np.isfinite(h) & (b > 0) & (h > 0)
        d = np.log(h[ok]) - np.log(b[ok])
    return tuple(float(x) for x in d), int(b.size - int(ok.sum()))


def paired_log_ratios(
    base: Mapping[str, OperationSamples],
    head: Mapping[str, OperationSamples],
    metrics: Sequence[str],
) -> tuple[dict[tuple[str, str], tuple[float, ...]], dict[tuple[str, str], int]]:
    """Per (operation, metric): the paired log ratios of the interleaved rounds (block i
    of base and of head are round i), and the rounds left out. Operations missing
    from either side are absent. Raises ValueError for a metric outside
    SEQUENTIAL_METRICS."""
    for m in metrics:
        if m not in SEQUENTIAL_METRICS:
            raise ValueError(f"metric {m!r} is not followed sequentially ({SEQUENTIAL_METRICS})")
    ratios: dict[tuple[str, str], tuple[float, ...]] = {}
    dropped: dict[tuple[str, str], int] = {}
    for operation in sorted(set(base) & set(head)):
        a, b = base[operation], head[operation]
        n = min(len(a.counts), len(b.counts))  # a round still running on one side waits
        for m in metrics:
            va = a.throughput() if m == "rps" else np.asarray(getattr(a, f"block_{m}s"))
            vb = b.throughput() if m == "rps" else np.asarray(getattr(b, f"block_{m}s"))
            d: tuple[float, ...] = ()
            lost = n  # samples that kept no values of this metric: nothing to pair
            if va.size >= n and vb.size >= n:
                d, lost = log_ratios(list(va[:n]), list(vb[:n]))
            ratios[(operation, m)], dropped[(operation, m)] = d, lost
    return ratios, dropped


def _label(key: Hashable) -> str:
    return " ".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def _pct(log_value: float) -> float | None:
    return math.expm1(log_value) * 100 if math.isfinite(log_value) else None


def _intervals(
    d: NDArray[np.float64], alpha: float, c: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Running means and the running intersection of the CS, for every prefix."""
    n = np.arange(1, d.size + 1, dtype=float)
    mean = np.cumsum(d) / n
    # Sum of squared deviations by Welford's update: cumulative sums of squares lose
    # digits when the ratios sit far from zero.
    q = np.zeros(d.size)
    for i in range(1, d.size):
        q[i] = q[i - 1] + (d[i] - mean[i - 1]) * (d[i] - mean[i])
    radius = t_mixture_radius(n, np.maximum(q, 0.0), c, alpha)
    lo = np.maximum.accumulate(mean - radius)
    hi = np.minimum.accumulate(mean + radius)
    return mean, lo, hi


def _decide_one(
    key: K,
    d: tuple[float, ...],
    limit: Limit,
    *,
    alpha: float,
    c: float,
    min_effect_pct: float,
    min_rounds: int,
    rule: Rule,
    beta: float | None = None,
    c_beta: float | None = None,
) -> SequenceDecision[K]:
    values = np.asarray(d, dtype=float)
    finite = values[np.isfinite(values)]
    dropped = int(values.size - finite.size)
    sign = 1.0 if limit.upward else -1.0
    # Against the gate, in the breaking direction; a gate tighter than the minimum
    # effect is raised to it, so no change below min_effect is ever claimed.
    tau = max(sign * math.log1p(limit.threshold_pct / 100), math.log1p(min_effect_pct / 100))

    def make(
        decision: str,
        reason: str,
        at: int | None = None,
        est: float = math.nan,
        lo: float = -math.inf,
        hi: float = math.inf,
        bound: float = math.inf,
    ) -> SequenceDecision[K]:
        return SequenceDecision(
            key,
            decision,
            reason,
            int(finite.size),
            at,
            dropped,
            _pct(est),
            _pct(lo),
            _pct(hi),
            limit.threshold_pct,
            alpha,
            beta,
            _pct(sign * bound) if math.isfinite(bound) else None,
        )

    if finite.size == 0:
        return make("undecided", "no usable rounds yet")
    if finite.size < max(2, min_rounds):
        return make(
            "undecided",
            f"{finite.size} usable round(s); no decision before {max(2, min_rounds)}",
            est=float(finite.mean()),
        )
    if np.ptp(finite) == 0:
        # Identical ratios (a quantised histogram, a stuck clock) show no spread to
        # judge the noise by; the model would shrink the interval to a point.
        return make(
            "undecided",
            f"all {finite.size} round ratios are equal ({_pct(float(finite[0])):+.1f}%): "
            "no spread to judge the noise by",
            est=float(finite[0]),
        )
    mean, lo, hi = _intervals(finite, alpha, c)
    # In the breaking direction: s_lo/s_hi bound sign * mean.
    s_mean = sign * mean
    s_lo, s_hi = (lo, hi) if sign > 0 else (-hi, -lo)
    if rule == "beyond":
        breaks = s_lo > tau
    else:
        breaks = (s_lo > 0) & (s_mean > tau)
    # "Within" on the bound in the breaking direction of the CS at level beta.
    if beta is None or c_beta is None or beta == alpha:
        w_hi = s_hi
    else:
        _, lo_b, hi_b = _intervals(finite, beta, c_beta)
        w_hi = hi_b if sign > 0 else -lo_b
    holds = w_hi < tau
    usable = np.arange(1, finite.size + 1) >= min_rounds
    first = np.flatnonzero((breaks | holds) & usable)
    gate = f"{'<=' if limit.upward else '>='} {limit.threshold_pct:+g}%"
    if first.size == 0:
        if lo[-1] > hi[-1]:
            # The running intersection is empty: the rounds contradict one another
            # more than the model allows (drift, a changed runner); claim nothing.
            reason = "the intervals of successive rounds do not overlap"
            return make("undecided", reason, None, float(mean[-1]))
        reason = f"the interval still straddles {gate}"
        return make(
            "undecided",
            reason,
            None,
            float(mean[-1]),
            float(lo[-1]),
            float(hi[-1]),
            float(w_hi[-1]),
        )
    at = int(first[0])
    decision = "regression" if breaks[at] else "within"
    ci = f"[{_pct(float(lo[at])):+.1f}%, {_pct(float(hi[at])):+.1f}%]"
    if decision == "regression":
        why = "beyond" if rule == "beyond" else "significant and its estimate beyond"
        reason = f"{_pct(float(mean[at])):+.1f}% {ci} is {why} {gate} after {at + 1} rounds"
    elif w_hi is s_hi:
        reason = f"{_pct(float(mean[at])):+.1f}% {ci} holds {gate} after {at + 1} rounds"
    else:
        bound = _pct(sign * float(w_hi[at]))
        level = f"{(1 - (beta or 0)) * 100:g}%"
        reason = (
            f"{_pct(float(mean[at])):+.1f}% holds {gate} after {at + 1} rounds: "
            f"at {'most' if sign > 0 else 'least'} {bound:+.1f}% ({level} confidence sequence)"
        )
    # A decided sequence keeps the figures it was decided on, so the verdict's line,
    # the gate's row and the live view all show the same interval.
    return make(
        decision, reason, at + 1, float(mean[at]), float(lo[at]), float(hi[at]), float(w_hi[at])
    )


def decide(
    paired: Mapping[K, Sequence[float]],
    limits: Mapping[K, Limit],
    *,
    alpha: float,
    min_effect_pct: float = 5.0,
    min_rounds: int = MIN_ROUNDS,
    target_rounds: float = 20.0,
    rule: Rule = "beyond",
    beta: float | None = None,
) -> SequentialVerdict[K]:
    """Decide every sequence of the family ``limits`` on the log ratios so far.

    ``paired``: key -> log ratios in round order (:func:`log_ratios`; non-finite ones
    are left out and counted); a key of ``limits`` without ratios is undecided.
    ``alpha``: family-wise level (``compare.alpha``), shared by Bonferroni among
    ``len(limits)`` sequences, a number fixed before the first look.
    ``target_rounds``: where the boundary is tightest (the planned rounds,
    ``compare.blocks``). ``beta``: the level of each sequence's "within" decision
    (``compare.beta``, the most often a change beyond a gate is called within it; not
    shared: a miss is per gate); None: the alpha share, as for regressions.
    Deterministic. Raises ValueError on an alpha or beta outside (0, 1), a negative
    minimum effect, ``min_rounds`` < 2 or an unknown rule.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha!r} must lie strictly between 0 and 1")
    if not min_effect_pct >= 0:
        raise ValueError(f"minimum effect {min_effect_pct!r}% must not be negative")
    if min_rounds < 2:
        raise ValueError(f"min_rounds {min_rounds} must be at least 2")
    if rule not in ("beyond", "significant"):
        raise ValueError(f"unknown rule {rule!r}: beyond or significant")
    if beta is not None and not 0 < beta < 1:
        raise ValueError(f"beta {beta!r} must lie strictly between 0 and 1")
    family = max(1, len(limits))
    share = alpha / family
    c = mixture_precision(target_rounds, share)
    c_beta = None if beta is None else mixture_precision(target_rounds, beta)
    decisions = tuple(
        _decide_one(
            key,
            tuple(paired.get(key, ())),
            limit,
            alpha=share,
            c=c,
            min_effect_pct=min_effect_pct,
            min_rounds=min_rounds,
            rule=rule,
            beta=beta,
            c_beta=c_beta,
        )
        for key, limit in limits.items()
    )
    rounds = max((d.rounds for d in decisions), default=0)
    return SequentialVerdict(decisions, alpha, family, rounds, rule)


def should_stop(
    verdict: SequentialVerdict[K],
    max_rounds: int,
    decisive: Collection[K] | None = None,
) -> tuple[bool, str]:
    """Whether the test can end after these rounds, and why: a sequence in
    ``decisive`` (the keys whose regression fails the run; None: all) decided
    "regression", so the run fails whatever the others show; or every sequence
    decided either way; or ``max_rounds`` rounds reached (the undecided ones then
    give no verdict, :func:`finish`). An empty family stops at once."""
    if not verdict.decisions:
        return True, "no relative gate to decide"
    for d in verdict.decisions:
        if d.decision == "regression" and (decisive is None or d.key in decisive):
            return True, f"{_label(d.key)}: regression decided after {d.decided_at} rounds"
    open_ = [d for d in verdict.decisions if not d.decided]
    if not open_:
        return True, f"every gate decided after {verdict.rounds} rounds"
    if verdict.rounds >= max_rounds:
        return True, f"reached {max_rounds} rounds with {len(open_)} gate(s) undecided"
    return False, f"{len(open_)} of {len(verdict.decisions)} gate(s) undecided"


def finish(verdict: SequentialVerdict[K]) -> SequentialVerdict[K]:
    """The verdict at the end of the test: undecided sequences become "no-verdict",
    with the interval they reached in the reason."""
    out = []
    for d in verdict.decisions:
        if d.decided:
            out.append(d)
            continue
        reason = f"no verdict after {d.rounds} rounds: {d.reason}"
        out.append(replace(d, decision="no-verdict", reason=reason))
    return replace(verdict, decisions=tuple(out))
