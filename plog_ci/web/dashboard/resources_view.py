"""The run page's table of service resources, from ``run_detail``'s ``resources``:
per side, CPU mean and peak (% of one core), memory peak, and for a container its
throttled share of CFS periods and OOM kills over the sampling (counters since the
container started, so the table shows the growth from the first sample to the last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Positions in a stored sample (plog_ci.store.run_query.run_detail):
# ts, cpu %, memory bytes[, periods, throttled periods, throttled s, OOM kills, running]
_CPU, _MEMORY, _PERIODS, _THROTTLED, _THROTTLED_S, _OOM = 1, 2, 3, 4, 5, 6


def _numbers(samples: Sequence[Sequence[Any]], index: int) -> list[float]:
    return [
        float(s[index])
        for s in samples
        if len(s) > index and isinstance(s[index], int | float) and not isinstance(s[index], bool)
    ]


def resource_rows(resources: Mapping[str, Sequence[Sequence[Any]]] | None) -> list[dict[str, Any]]:
    """One row per side (``target``, ``samples``, ``cpu_mean``, ``cpu_max``,
    ``memory_max`` in bytes, ``memory_name``; containers add ``throttled_share``
    (0..1), ``throttled_s`` and ``oom_kills``); values None where no sample has them."""
    rows = []
    for target, samples in sorted((resources or {}).items()):
        cpu, memory = _numbers(samples, _CPU), _numbers(samples, _MEMORY)
        periods, throttled = _numbers(samples, _PERIODS), _numbers(samples, _THROTTLED)
        container = bool(periods)
        row: dict[str, Any] = {
            "target": target,
            "samples": len(samples),
            "cpu_mean": sum(cpu) / len(cpu) if cpu else None,
            "cpu_max": max(cpu) if cpu else None,
            "memory_max": max(memory) if memory else None,
            "memory_name": "working set" if container else "RSS",
            "container": container,
        }
        if container:
            grown = periods[-1] - periods[0]
            seconds = _numbers(samples, _THROTTLED_S)
            row["throttled_share"] = (throttled[-1] - throttled[0]) / grown if grown > 0 else 0.0
            row["throttled_s"] = seconds[-1] - seconds[0] if seconds else None
            row["oom_kills"] = max(_numbers(samples, _OOM), default=0)
        rows.append(row)
    return rows
