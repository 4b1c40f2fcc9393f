"""Samples from blocks: one value per block (an interleaved round's turn of one side,
a duet's group of seconds) and operation, for the statistics."""

from __future__ import annotations

import math
from typing import Any

from plog_ci.analysis.samples import OperationSamples
from plog_ci.results import OperationStats
from plog_ci.runner.histogram import Histogram


def block_samples(
    blocks: list[dict[str, OperationStats]],
    durations_s: list[float],
    histograms: list[dict[str, dict[str, Any]]] | None = None,
) -> dict[str, OperationSamples]:
    """Per-operation samples for the statistics: one value per block.

    A block where the operation saw no request carries NaN percentiles, which
    the tests leave out (rather than a zero that would look like a fast block).
    ``histograms`` (per block, per operation, ``Histogram.to_dict``) go with the
    samples of an operation only when every block that saw it kept one.
    """
    names = sorted({name for block in blocks for name in block})
    out: dict[str, OperationSamples] = {}
    for name in names:
        p50s, p95s, p99s, counts, failures = [], [], [], [], []
        hists: list[Histogram] | None = [] if histograms is not None else None
        for index, block in enumerate(blocks):
            s = block.get(name)
            if hists is not None and histograms is not None:
                kept = histograms[index].get(name) if index < len(histograms) else None
                if kept is not None:
                    hists.append(Histogram.from_dict(kept))
                elif s is None or s.count == 0:
                    hists.append(Histogram())
                else:
                    hists = None  # one block without its histogram: none are used
            if s is None or s.count == 0:
                p50s.append(math.nan)
                p95s.append(math.nan)
                p99s.append(math.nan)
                counts.append(0)
                failures.append(0)
            else:
                p50s.append(s.p50)
                p95s.append(s.p95)
                p99s.append(s.p99)
                counts.append(s.count)
                failures.append(min(s.failures, s.count))
        out[name] = OperationSamples(
            name,
            tuple(p50s),
            tuple(p95s),
            tuple(p99s),
            tuple(counts),
            tuple(failures),
            tuple(durations_s),
            tuple(hists or ()),
        )
    return out
