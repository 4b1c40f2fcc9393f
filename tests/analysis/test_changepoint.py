"""E-divisive change points on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest

from plog_ci.analysis.changepoint import ChangePointSettings, detect
from plog_ci.errors import InputError


def test_finds_a_step_up_and_back() -> None:
    rng = np.random.default_rng(1)
    series = np.concatenate(
        [rng.normal(100, 3, 40), rng.normal(115, 3, 30), rng.normal(100, 3, 30)]
    )
    points = detect(series.tolist())
    assert [p.index for p in points] == [40, 70]
    assert points[0].delta_pct == pytest.approx(15, abs=3)
    assert points[1].delta_pct == pytest.approx(-13, abs=3)
    assert all(p.p_value <= 0.01 for p in points)


def test_finds_a_change_in_spread_not_only_mean() -> None:
    rng = np.random.default_rng(2)
    series = np.concatenate([rng.normal(100, 1, 40), rng.normal(100, 15, 40)])
    points = detect(series.tolist())
    assert len(points) == 1 and abs(points[0].index - 40) <= 3


def test_stable_series_rarely_has_change_points() -> None:
    false = sum(
        bool(detect(np.random.default_rng(s).normal(100, 5, 40).tolist())) for s in range(20)
    )
    assert false <= 1


def test_short_and_constant_series() -> None:
    assert detect([]) == []
    assert detect([1.0, 2.0]) == []
    assert detect([5.0] * 30) == []


def test_deterministic_with_seed() -> None:
    rng = np.random.default_rng(3)
    series = np.concatenate([rng.normal(10, 1, 15), rng.normal(12, 1, 15)]).tolist()
    assert detect(series) == detect(series)
    assert detect(series, ChangePointSettings(seed=5)) == detect(
        series, ChangePointSettings(seed=5)
    )


def test_hostile_input() -> None:
    with pytest.raises(InputError, match="position 2"):
        detect([1.0, 2.0, float("nan"), 3.0])
    with pytest.raises(InputError):
        detect([1.0, float("inf")])
    with pytest.raises(InputError, match="at least 100 permutations"):
        ChangePointSettings(significance=0.01, permutations=20)
    with pytest.raises(InputError):
        ChangePointSettings(significance=0)
    with pytest.raises(InputError):
        ChangePointSettings(min_size=0)
