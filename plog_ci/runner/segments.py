"""Distributed runs: one test as N k6 execution segments, merged exactly.

Each process runs ``--execution-segment i/N:(i+1)/N`` of the same
``--execution-segment-sequence``, so together they run exactly the whole test
(k6 splits arrival rates and VUs without overlap). Every process pushes to its
own ``/write/<i>`` path of one capture; the capture adds their counters and
merges their native histograms bucket by bucket, which is exact. Gates are
then evaluated on the merged result, which k6-operator cannot do across pods.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from plog_ci import proc
from plog_ci.errors import InputError, InternalError
from plog_ci.loadgen.script import Script
from plog_ci.results import LoadResult, SeriesPoint
from plog_ci.runner.capture import Capture
from plog_ci.runner.k6 import (
    MEASURED_CODES,
    base_env,
    capture_env,
    check_target,
    find_k6,
    finish,
    k6_argv,
    wait_all,
)

MAX_SEGMENTS = 64


def segment_sequence(count: int) -> tuple[str, list[str]]:
    """k6's sequence string and the N segment strings, e.g. ("0,1/2,1", ["0:1/2", "1/2:1"])."""
    if not 1 <= count <= MAX_SEGMENTS:
        raise InputError(f"segments: {count} is not between 1 and {MAX_SEGMENTS}")
    points = [Fraction(i, count) for i in range(count + 1)]

    def fmt(value: Fraction) -> str:
        return str(value.numerator) if value.denominator == 1 else str(value)

    sequence = ",".join(fmt(p) for p in points)
    return sequence, [f"{fmt(a)}:{fmt(b)}" for a, b in itertools.pairwise(points)]


def run_segments(
    script: Script,
    base_url: str,
    workdir: Path,
    count: int,
    *,
    timeout_s: float,
    extra_env: dict[str, str] | None = None,
    on_tick: Callable[[float], None] | None = None,
    on_second: Callable[[list[SeriesPoint]], None] | None = None,
    summary: bool = False,
    secrets: Sequence[str] = (),
) -> tuple[LoadResult, dict[str, int]]:
    """Run ``script`` as ``count`` k6 processes; the merged result and requests per segment."""
    k6 = find_k6()
    workdir.mkdir(parents=True, exist_ok=True)
    script_path = workdir / "script.js"
    script_path.write_text(script.text, encoding="utf-8")
    pin = check_target(base_url, script)
    sequence, segments = segment_sequence(count)
    processes: list[proc.Process] = []
    with Capture(script.operations, on_second=on_second) as capture:
        started = time.monotonic()
        try:
            for index, segment in enumerate(segments):
                url = capture.url(str(index))
                env = base_env(base_url, {**pin, **(extra_env or {})})
                env.update(capture_env(url))
                summary_path = workdir / f"summary-{index}.json" if summary else None
                argv = k6_argv(
                    k6,
                    script_path,
                    capture_url=url,
                    summary=summary_path,
                    segment=(segment, sequence),
                )
                secret_values = [*secrets, *(env.get(n, "") for n in script.secret_env)]
                processes.append(
                    proc.Process(
                        argv,
                        cwd=workdir,
                        env=env,
                        log_path=workdir / f"k6-{index}.log",
                        secrets=secret_values,
                    )
                )
        except BaseException:
            for process in processes:
                process.stop(grace=1.0)
            raise
        codes = wait_all(processes, timeout_s, on_tick)
        elapsed = time.monotonic() - started
        for index, code in enumerate(codes):
            if code not in MEASURED_CODES:
                raise InternalError(
                    f"k6 segment {segments[index]} exited with code {code}\n"
                    f"--- k6 output ---\n{processes[index].tail(30)}",
                    hint=f"the script is at {script_path}",
                )
        result = finish(capture, script, codes, elapsed, None)
        return result, capture.segment_counts()
