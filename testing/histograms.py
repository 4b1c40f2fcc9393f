"""Native latency histograms for tests, as the capture stores them (schema 3, seconds)."""

from __future__ import annotations

import math

import numpy as np


def lognormal_histogram(rng: np.random.Generator, median_s: float, n: int) -> dict[str, object]:
    """``Histogram.to_dict`` of ``n`` log-normal latencies (sigma 0.3) around ``median_s``."""
    values = median_s * rng.lognormal(0.0, 0.3, n)
    buckets: dict[str, float] = {}
    for index in np.ceil(np.log(values) / math.log(2 ** (1 / 8))).astype(int):
        buckets[str(index)] = buckets.get(str(index), 0.0) + 1.0
    return {
        "schema": 3,
        "zero_threshold": 0.0,
        "zero_count": 0.0,
        "count": float(n),
        "sum": float(values.sum()),
        "buckets": buckets,
    }
