"""Exact merge of a test split into N k6 execution segments (N runners, one verdict).

One open-model test (constant arrival rate against nginx) runs as 4 k6
processes with ``--execution-segment`` and ``--no-thresholds``, as PLog's
runners do (``runner.segments``); each also writes every request to a CSV so
the exact answer is known. Shown: per runner, its requests, its own p95 from
the capture (what k6-operator would judge per pod) beside the exact p95 of its
own requests; the sum of the runners' counts, the merged capture's count, the
CSV's count and the count the plan implies; p50/p90/p95/p99 from the merged
native histograms against the exact percentiles of all requests pooled; and the
mean of the runners' p95s (what averaging per-pod figures would claim).

    .venv/bin/python -m bench segments_merge
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path

from bench.capture_overhead import SPEC, nginx
from plog_ci import proc
from plog_ci.config.model import LoadConfig
from plog_ci.loadgen.script import generate
from plog_ci.openapi.load import load_spec_bytes
from plog_ci.runner.histogram import Histogram
from plog_ci.runner.k6 import base_env, capture_env, find_k6, k6_argv, wait_all
from plog_ci.runner.segments import NO_THRESHOLDS, RunnerCapture, segment_sequence

BUCKET = 2 ** (2**-3) - 1  # k6's native histograms: schema 3


def exact(values: list[float], q: float) -> float:
    """k6's percentile: linear interpolation between closest ranks."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _durations(path: Path) -> list[float]:
    with open(path, newline="") as fh:
        return [
            float(row["metric_value"])
            for row in csv.DictReader(fh)
            if row["metric_name"] == "http_req_duration" and row.get("name") == "GET /"
        ]


def run(segments: int, rate: float, seconds: float, tmp: Path) -> None:
    spec = load_spec_bytes(SPEC, "nginx.json")
    with nginx() as url:
        load = LoadConfig(rate=rate, duration_s=seconds, vus=20)
        script = generate(spec, list(spec.operations.values()), load, url)
        path = tmp / "script.js"
        path.write_text(script.text, encoding="utf-8")
        sequence, parts = segment_sequence(segments)
        capture = RunnerCapture(script.operations)
        with capture:
            processes = []
            for i, part in enumerate(parts):
                env = base_env(url, None)
                env.update(capture_env(capture.url(str(i))))
                argv = k6_argv(
                    find_k6(),
                    path,
                    capture_url=capture.url(str(i)),
                    summary=None,
                    segment=(part, sequence),
                    extra_args=(NO_THRESHOLDS, "--out", f"csv={tmp / f'seg{i}.csv'}"),
                )
                processes.append(proc.Process(argv, env=env, log_path=tmp / f"k6-{i}.log"))
            wait_all(processes, seconds + 60, None)
            per_segment = capture.segment_counts()
            alone = capture.runner_stats(seconds)
            dropped = capture.dropped()
            stats = capture.stats(seconds)[1]
            merged = capture.histograms()[script.operations[0]]
    own = [_durations(tmp / f"seg{i}.csv") for i in range(segments)]
    durations = [d for part in own for d in part]
    print(f"{segments} runners, {rate:g}/s for {seconds:g} s against nginx")
    for i, part in enumerate(parts):
        mine = alone[str(i)]
        print(
            f"  runner {i + 1} (segment {part}): {mine.count} requests, "
            f"dropped {dropped.get(str(i), 0)}, p95 {mine.p95:.3f} ms "
            f"(exact {exact(own[i], 0.95):.3f} ms)"
        )
    print(
        f"requests: sum of runners {sum(per_segment.values())}, merged capture {stats.count}, "
        f"CSV rows {len(durations)}, planned {rate * seconds:.0f}"
    )
    print(f"merged histogram: count {merged.count:.0f}, schema {merged.schema}")
    for q in (0.50, 0.90, 0.95, 0.99):
        ours = Histogram.quantile(merged, q) * 1000
        truth = exact(durations, q)
        print(
            f"  p{round(q * 100)}: merged {ours:.3f} ms, exact {truth:.3f} ms, "
            f"diff {ours / truth - 1:+.2%} (one bucket: {BUCKET:.1%})"
        )
    print(f"  mean: merged {merged.mean * 1000:.4f} ms, exact {statistics.fmean(durations):.4f} ms")
    averaged = statistics.fmean(alone[str(i)].p95 for i in range(segments))
    print(
        f"  mean of the runners' p95s {averaged:.3f} ms vs exact p95 of all "
        f"{exact(durations, 0.95):.3f} ms (averaging percentiles is not a percentile)"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="plog-bench-") as tmp:
        run(args.segments, args.rate, args.seconds, Path(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])
