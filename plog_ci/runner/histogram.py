"""Sparse exponential (Prometheus native) histograms: merge, subtract, quantiles.

Bucket ``i`` at schema ``s`` holds values in ``(b**(i-1), b**i]`` with
``b = 2 ** (2 ** -s)``. Two histograms merge exactly once both are at the lower
of their schemas, because every bucket of schema ``s`` is the union of two
buckets of schema ``s + 1``. k6 writes schema 3 (bucket factor 1.1), so a
quantile read from one is exact up to one bucket: within about 9% of the
value, or ±4.4% around the bucket's geometric centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Histogram:
    """Counts in seconds-valued buckets (k6 sends seconds), plus count and sum."""

    schema: int = 3
    zero_threshold: float = 0.0
    zero_count: float = 0.0
    count: float = 0.0
    sum: float = 0.0
    buckets: dict[int, float] = field(default_factory=dict)

    def copy(self) -> Histogram:
        return Histogram(
            self.schema,
            self.zero_threshold,
            self.zero_count,
            self.count,
            self.sum,
            dict(self.buckets),
        )

    def reduce_to(self, schema: int) -> Histogram:
        """The same data at a coarser schema (exact: buckets nest)."""
        if schema >= self.schema:
            return self.copy()
        shift = self.schema - schema
        merged: dict[int, float] = {}
        for index, value in self.buckets.items():
            # Bucket i at schema s+k lands in ceil(i / 2**k) at schema s.
            target = -((-index) >> shift)
            merged[target] = merged.get(target, 0.0) + value
        return Histogram(schema, self.zero_threshold, self.zero_count, self.count, self.sum, merged)

    def add(self, other: Histogram) -> Histogram:
        """A new histogram holding both (exact, at the coarser schema)."""
        schema = min(self.schema, other.schema)
        left, right = self.reduce_to(schema), other.reduce_to(schema)
        out = left
        for index, value in right.buckets.items():
            out.buckets[index] = out.buckets.get(index, 0.0) + value
        out.zero_threshold = max(left.zero_threshold, right.zero_threshold)
        out.zero_count += right.zero_count
        out.count += right.count
        out.sum += right.sum
        return out

    def subtract(self, earlier: Histogram) -> Histogram:
        """What was observed since ``earlier`` (both cumulative from the same start)."""
        schema = min(self.schema, earlier.schema)
        now, before = self.reduce_to(schema), earlier.reduce_to(schema)
        buckets = {}
        for index, value in now.buckets.items():
            delta = value - before.buckets.get(index, 0.0)
            if delta > 0:
                buckets[index] = delta
        return Histogram(
            schema,
            now.zero_threshold,
            max(0.0, now.zero_count - before.zero_count),
            max(0.0, now.count - before.count),
            max(0.0, now.sum - before.sum),
            buckets,
        )

    @property
    def base(self) -> float:
        return float(2.0 ** (2.0**-self.schema))

    def bounds(self, index: int) -> tuple[float, float]:
        base = self.base
        return base ** (index - 1), base**index

    def quantile(self, q: float) -> float:
        """The q-quantile (0..1), log-linear inside the bucket, like Prometheus does."""
        total = self.zero_count + sum(self.buckets.values())
        if total <= 0:
            return 0.0
        rank = q * total
        if rank <= self.zero_count:
            return 0.0
        seen = self.zero_count
        for index in sorted(self.buckets):
            value = self.buckets[index]
            if seen + value >= rank:
                low, high = self.bounds(index)
                fraction = (rank - seen) / value
                return float(low * (high / low) ** fraction)
            seen += value
        return self.bounds(max(self.buckets))[1]

    def min_bound(self) -> float:
        if self.zero_count or not self.buckets:
            return 0.0
        low, high = self.bounds(min(self.buckets))
        return math.sqrt(low * high)

    def max_bound(self) -> float:
        if not self.buckets:
            return 0.0
        low, high = self.bounds(max(self.buckets))
        return math.sqrt(low * high)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "zero_threshold": self.zero_threshold,
            "zero_count": self.zero_count,
            "count": self.count,
            "sum": self.sum,
            "buckets": {str(k): v for k, v in sorted(self.buckets.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        return cls(
            int(data["schema"]),
            float(data["zero_threshold"]),
            float(data["zero_count"]),
            float(data["count"]),
            float(data["sum"]),
            {int(k): float(v) for k, v in data["buckets"].items()},
        )


def merge(histograms: list[Histogram]) -> Histogram:
    out = Histogram()
    first = True
    for hist in histograms:
        out = hist.copy() if first else out.add(hist)
        first = False
    return out
