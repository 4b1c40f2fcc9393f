"""Change points in a per-commit series: E-divisive, as Apache Otava (hunter) uses.

The series (say the p95 of one operation per commit) is split where the
energy statistic of Matteson & James (2014) peaks: for a split of a segment
into ``A`` (n values) and ``B`` (m values)::

    E = 2·mean|a - b| - mean|a - a'| - mean|b - b'|     (pairs a≠a', b≠b')
    Q = n·m / (n + m) · E

The best split over all current segments is kept when a permutation test
says it is unlikely under "no change": the segment's values are shuffled
``permutations`` times (seeded, so the answer is reproducible) and
``p = (1 + #{Q_perm >= Q}) / (permutations + 1)``. Splitting stops at the
first split that is not significant. Distances use exponent 1 (|x - y|), so
the method sees changes in any aspect of the distribution, not just the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from plog_ci.errors import InputError


@dataclass(frozen=True)
class ChangePointSettings:
    significance: float = 0.01  # max p-value of the permutation test
    permutations: int = 199
    min_size: int = 3  # fewest values on either side of a change
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.significance < 1:
            raise InputError(f"change-point significance {self.significance!r} must lie in (0, 1)")
        if self.permutations < 1 / self.significance - 1:
            raise InputError(
                f"{self.permutations} permutations cannot give p < {self.significance:g}",
                hint=f"use at least {math.ceil(1 / self.significance)} permutations",
            )
        if self.min_size < 1:
            raise InputError("change-point min_size must be at least 1")


@dataclass(frozen=True)
class ChangePoint:
    index: int  # first position of the new segment
    p_value: float
    energy: float  # Q at the split
    before: float  # mean of the segment ending here
    after: float  # mean of the segment starting here
    delta_pct: float | None  # (after - before) / before * 100; None when before is 0

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "index": self.index,
            "p_value": round(self.p_value, 6),
            "energy": round(self.energy, 6),
            "before": round(self.before, 6),
            "after": round(self.after, 6),
            "delta_pct": None if self.delta_pct is None else round(self.delta_pct, 6),
        }


def _split_energies(dist: NDArray[np.float64], min_size: int) -> NDArray[np.float64]:
    """Q for every split position tau in [min_size, N - min_size] (index tau - min_size).

    Sums over A×A and A×(A∪B) for every tau come from two running sums of row sums
    (the distance matrix is symmetric with a zero diagonal), O(N²) with no N² prefix
    table: ``left[t] = Σ_{i<t} 2·Σ_{j<i} d[i, j]``, ``rows[t] = Σ_{i<t} Σ_j d[i, j]``.
    """
    n_total = dist.shape[0]
    lower = np.tril(dist, -1).sum(1)
    left_all = np.concatenate(([0.0], np.cumsum(2 * lower)))
    rows_all = np.concatenate(([0.0], np.cumsum(dist.sum(1))))
    tau = np.arange(min_size, n_total - min_size + 1)
    whole = rows_all[n_total]
    left = left_all[tau]  # sum over A×A
    rows = rows_all[tau]  # sum over A×(A∪B)
    cross = rows - left
    right = whole - 2 * rows + left
    n = tau.astype(float)
    m = n_total - n
    with np.errstate(divide="ignore", invalid="ignore"):
        within_a = np.where(n > 1, left / (n * (n - 1)), 0.0)
        within_b = np.where(m > 1, right / (m * (m - 1)), 0.0)
    energy = 2 * cross / (n * m) - within_a - within_b
    result: NDArray[np.float64] = n * m / (n + m) * energy
    return result


def _best_split(values: NDArray[np.float64], min_size: int) -> tuple[int, float] | None:
    if values.size < 2 * min_size:
        return None
    dist = np.abs(values[:, None] - values[None, :])
    q = _split_energies(dist, min_size)
    best = int(np.argmax(q))
    return best + min_size, float(q[best])


def _p_value(
    values: NDArray[np.float64], observed: float, settings: ChangePointSettings, start: int
) -> float:
    rng = np.random.default_rng([settings.seed, start, values.size])
    dist = np.abs(values[:, None] - values[None, :])
    at_least = 0
    # Once this many permutations reach the observed energy, p exceeds the significance
    # whatever the rest give: the split is rejected, and the permutations left are not
    # drawn (the p returned is then a lower bound, above the significance). A split that
    # is kept always ran them all, so its p is exact. Most of a history's time went to
    # the last, rejected split of each series before.
    total = settings.permutations + 1
    enough = next(a for a in range(total + 1) if (1 + a) / total > settings.significance)
    for _ in range(settings.permutations):
        perm = rng.permutation(values.size)
        q = _split_energies(dist[np.ix_(perm, perm)], settings.min_size)
        # A tiny tolerance so float noise in equal energies counts as "at least".
        if float(q.max()) >= observed - 1e-12 * max(1.0, abs(observed)):
            at_least += 1
            if at_least >= enough:
                break
    return (1 + at_least) / (settings.permutations + 1)


def detect(
    values: Sequence[float], settings: ChangePointSettings | None = None
) -> list[ChangePoint]:
    """Change points in ``values`` (oldest first), sorted by position."""
    settings = settings or ChangePointSettings()
    series = np.asarray([float(v) for v in values], dtype=float)
    bad = [i for i, v in enumerate(series) if not math.isfinite(v)]
    if bad:
        raise InputError(
            f"change-point series has a non-finite value at position {bad[0]}",
            hint="leave out commits without a measurement",
        )
    cuts: list[tuple[int, float, float]] = []  # (index, p, energy)
    segments = [(0, series.size)]
    while True:
        best: tuple[float, int, int, int] | None = None  # (Q, tau, seg start, seg end)
        for start, end in segments:
            split = _best_split(series[start:end], settings.min_size)
            if split is not None and (best is None or split[1] > best[0]):
                best = (split[1], start + split[0], start, end)
        if best is None or best[0] <= 0:
            break
        q, tau, start, end = best
        p = _p_value(series[start:end], q, settings, start)
        if p > settings.significance:
            break
        cuts.append((tau, p, q))
        segments.remove((start, end))
        segments += [(start, tau), (tau, end)]
    cuts.sort()
    bounds = [0, *(c[0] for c in cuts), series.size]
    points = []
    for k, (tau, p, q) in enumerate(cuts):
        before = float(series[bounds[k] : tau].mean())
        after = float(series[tau : bounds[k + 2]].mean())
        delta = None if before == 0 else (after - before) / abs(before) * 100
        points.append(ChangePoint(tau, p, q, before, after, delta))
    return points
