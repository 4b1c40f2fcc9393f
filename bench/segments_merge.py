"""Exact merge of a test split into N k6 execution segments.

One open-model test (constant arrival rate against nginx) runs as 4 k6
processes with ``--execution-segment``; each also writes every request to a
CSV so the exact answer is known. Shown: per-segment request counts, their sum,
the merged capture's count, the CSV's count and the count the plan implies;
and p50/p90/p95/p99 from the merged native histograms against the exact
percentiles of all requests pooled.

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
from plog_ci.runner.capture import Capture
from plog_ci.runner.histogram import Histogram
from plog_ci.runner.k6 import base_env, capture_env, find_k6, k6_argv, wait_all
from plog_ci.runner.segments import segment_sequence

BUCKET = 2 ** (2**-3) - 1  # k6's native histograms: schema 3


def exact(values: list[float], q: float) -> float:
    """k6's percentile: linear interpolation between closest ranks."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def run(segments: int, rate: float, seconds: float, tmp: Path) -> None:
    spec = load_spec_bytes(SPEC, "nginx.json")
    with nginx() as url:
        load = LoadConfig(rate=rate, duration_s=seconds, vus=20)
        script = generate(spec, list(spec.operations.values()), load, url)
        path = tmp / "script.js"
        path.write_text(script.text, encoding="utf-8")
        sequence, parts = segment_sequence(segments)
        with Capture(script.operations) as capture:
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
                    extra_args=("--out", f"csv={tmp / f'seg{i}.csv'}"),
                )
                processes.append(proc.Process(argv, env=env, log_path=tmp / f"k6-{i}.log"))
            wait_all(processes, seconds + 60, None)
            per_segment = capture.segment_counts()
            stats = capture.stats(seconds)[1]
            merged = capture.histograms()[script.operations[0]]
    durations: list[float] = []
    for i in range(segments):
        with open(tmp / f"seg{i}.csv", newline="") as fh:
            durations += [
                float(row["metric_value"])
                for row in csv.DictReader(fh)
                if row["metric_name"] == "http_req_duration" and row.get("name") == "GET /"
            ]
    print(f"per segment: {per_segment}")
    print(
        f"requests: sum of segments {sum(per_segment.values())}, merged capture {stats.count}, "
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
