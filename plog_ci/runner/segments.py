"""Distributed runs: one test as N k6 execution segments, merged exactly, judged once.

Each process runs ``--execution-segment i/N:(i+1)/N`` of the same
``--execution-segment-sequence``, so together they run exactly the whole test
(k6 splits arrival rates and VUs without overlap). Every process pushes to its
own ``/write/<i>`` path of one capture (k6-operator's pods push to one path and
are told apart by the ``instance_id`` tag the operator gives each); the capture
adds their counters and merges their native histograms bucket by bucket, which
is exact. The runners run with ``--no-thresholds``: no runner judges its own
share. PLog judges the abort gates on the merged state each second
(``plog_ci.runner.merged_gates``) and stops every runner when one fails; the
run's gates are judged after it, on the merged result, as for one k6.

What each runner could not send (k6's ``dropped_iterations``: no free VU when
an iteration was due) is the load generator's limit, not the service's: it is
kept per runner (``RunnerTally``) and said in ``MergedRun.saturation``.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import psutil

from plog_ci import proc
from plog_ci.errors import InputError, InternalError
from plog_ci.gate_grammar import Gate
from plog_ci.loadgen.script import Script
from plog_ci.results import LoadResult, OperationStats, SeriesPoint, SetupTally
from plog_ci.runner.capture import Capture, SeriesCallback, stats_from
from plog_ci.runner.exchanges import KEPT, Exchanges, read_exchanges, read_setup
from plog_ci.runner.histogram import merge
from plog_ci.runner.k6 import (
    MEASURED_CODES,
    HardCapReached,
    K6Exit,
    base_env,
    capture_env,
    check_target,
    find_k6,
    finish_exit,
    k6_argv,
    wait_all,
)
from plog_ci.runner.merged_gates import CATASTROPHIC, AbortWatch
from plog_ci.runner.remote_write import Series

MAX_SEGMENTS = 64
DROPPED = "k6_dropped_iterations_total"
# k6-operator starts runner i (1-based) with ``--tag instance_id=i``.
RUNNER_LABEL = "instance_id"
# Runners ignore the script's thresholds: the merged result is judged by PLog.
NO_THRESHOLDS = "--no-thresholds"


def segment_sequence(count: int) -> tuple[str, list[str]]:
    """k6's sequence string and the N segment strings, e.g. ("0,1/2,1", ["0:1/2", "1/2:1"])."""
    if not 1 <= count <= MAX_SEGMENTS:
        raise InputError(f"segments: {count} is not between 1 and {MAX_SEGMENTS}")
    points = [Fraction(i, count) for i in range(count + 1)]

    def fmt(value: Fraction) -> str:
        return str(value.numerator) if value.denominator == 1 else str(value)

    sequence = ",".join(fmt(p) for p in points)
    return sequence, [f"{fmt(a)}:{fmt(b)}" for a, b in itertools.pairwise(points)]


class RunnerCapture(Capture):
    """A capture that keeps each runner apart: by push path, or by k6-operator's
    ``instance_id`` label when one path takes every pod; and counts, per runner,
    k6's dropped iterations and its pushes. ``where``/``followers``/``keep_deltas``
    as for ``Capture``."""

    def __init__(
        self,
        operations: tuple[str, ...],
        *,
        on_second: SeriesCallback | None = None,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        where: dict[str, str] | None = None,
        followers: tuple[Capture, ...] = (),
        merge_seconds: bool = True,
    ) -> None:
        super().__init__(
            operations,
            on_second=on_second,
            listen=listen,
            where=where,
            followers=followers,
            merge_seconds=merge_seconds,
        )
        # runner -> series labels -> latest cumulative dropped iterations
        self._dropped: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._runner_pushes: dict[str, int] = {}

    def _take(self, segment: str, series: list[Series]) -> None:
        by_runner: dict[str, list[Series]] = {}
        for item in series:
            runner = item.labels.get(RUNNER_LABEL) or segment
            by_runner.setdefault(runner, []).append(item)
            if item.labels.get("__name__") == DROPPED:
                for value, _stamp in item.samples:
                    if not math.isnan(value):
                        with self._lock:
                            key = tuple(sorted(item.labels.items()))
                            self._dropped.setdefault(runner, {})[key] = value
        for runner, items in sorted(by_runner.items()):
            super()._take(runner, items)
            with self._lock:
                self._runner_pushes[runner] = self._runner_pushes.get(runner, 0) + 1

    def runner_pushes(self) -> dict[str, int]:
        """Pushes received so far from each runner that pushed (runner -> count)."""
        with self._lock:
            return dict(self._runner_pushes)

    def dropped(self) -> dict[str, int]:
        """Iterations each runner dropped so far (runners that pushed any, else absent)."""
        with self._lock:
            return {r: round(sum(v.values())) for r, v in self._dropped.items()}

    def runner_stats(self, duration_s: float) -> dict[str, OperationStats]:
        """Each runner's own whole-run statistics (what it alone would have judged)."""
        out: dict[str, OperationStats] = {}
        with self._lock:
            states = dict(self._segments)
            for runner, state in sorted(states.items()):
                hists, reqs = self._aggregate(state)
                wanted = [op for op in self.operations if op in hists]
                merged = merge([hists[op] for op in wanted]) if wanted else None
                count = sum(round(reqs[op][0]) for op in self.operations if op in reqs)
                failed = sum(round(reqs[op][1]) for op in self.operations if op in reqs)
                out[runner] = stats_from("*", merged, (count, failed, {}), duration_s)
        return out


class PooledCapture(Capture):
    """A capture (``where``, ``keep_deltas``...) that holds every runner's series in one
    state, each series labelled with its runner: a push's delta is that runner's
    increment, so ``deltas`` covers every runner (a plain ``Capture`` keeps them for
    path "0" only). One push a second per runner: N deltas a second."""

    def _take(self, segment: str, series: list[Series]) -> None:
        tagged = [
            item
            if RUNNER_LABEL in item.labels
            else replace(item, labels={**item.labels, RUNNER_LABEL: segment})
            for item in series
        ]
        super()._take("0", tagged)


@dataclass(frozen=True)
class RunnerTally:
    """One runner: its requests, the iterations it dropped, its CPU (percent of one
    core over the run; None where unknown, as for pods) and its own statistics."""

    runner: str  # "1".."N" (k6-operator's instance_id, or segment i as i+1)
    segment: str  # "0:1/4"
    requests: int
    dropped_iterations: int
    cpu_percent: float | None
    alone: OperationStats


@dataclass(frozen=True)
class MergedRun:
    """The merged result (judged once, by PLog) and every runner's tally."""

    result: LoadResult
    runners: tuple[RunnerTally, ...]

    @property
    def saturation(self) -> str | None:
        """The load generator's limit, in a sentence (``saturation_line``)."""
        return saturation_line(self.runners)


def saturation_line(runners: Sequence[RunnerTally]) -> str | None:
    """The load generator's limit, in a sentence, when any runner dropped iterations."""
    short = sorted(
        (r for r in runners if r.dropped_iterations > 0),
        key=lambda r: -r.dropped_iterations,
    )
    if not short:
        return None
    total = sum(r.dropped_iterations for r in short)
    parts = "; ".join(
        f"runner {r.runner} (segment {r.segment}) dropped {r.dropped_iterations} "
        f"and sent {r.requests}"
        + (f", its k6 at {r.cpu_percent:.0f}% of a core" if r.cpu_percent is not None else "")
        for r in short
    )
    return (
        f"the load generator could not keep the planned rate: {total} iterations "
        f"were dropped by {len(short)} of {len(runners)} runners ({parts}); "
        "k6 had no free VU when they were due, so the rate measured is the runners' "
        "limit, not the service's (raise load.vus or load.runners)"
    )


def tallies(
    capture: RunnerCapture,
    segments: Sequence[str],
    duration_s: float,
    cpu: dict[str, float] | None = None,
    index_base: int = 0,
) -> tuple[RunnerTally, ...]:
    """One tally per runner; runner keys are ``str(i + index_base)`` for segment i."""
    alone = capture.runner_stats(duration_s)
    dropped = capture.dropped()
    empty = stats_from("*", None, (0, 0, {}), duration_s)
    out = []
    for i, segment in enumerate(segments):
        key = str(i + index_base)
        stats = alone.get(key, empty)
        out.append(
            RunnerTally(
                str(i + 1),
                segment,
                stats.count,
                dropped.get(key, 0),
                (cpu or {}).get(key),
                stats,
            )
        )
    return tuple(out)


class _MergedAbort(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def judge_each_second(
    capture: Capture, watch: AbortWatch, elapsed_s: float, runners: str = "runners"
) -> str | None:
    """The abort reason when ``watch`` is due and a gate fails on the merged state."""
    if not watch.due(elapsed_s):
        return None
    per_op, total = capture.stats(elapsed_s)
    return watch.judge(per_op, total)


def run_merged(
    script: Script,
    base_url: str,
    workdir: Path,
    count: int,
    *,
    timeout_s: float,
    abort_gates: tuple[Gate, ...] = (CATASTROPHIC,),
    extra_env: dict[str, str] | None = None,
    on_tick: Callable[[float], None] | None = None,
    on_second: Callable[[list[SeriesPoint]], None] | None = None,
    secrets: Sequence[str] = (),
) -> MergedRun:
    """Run ``script`` as ``count`` local k6 processes, judged once on the merged result.

    ``abort_gates`` (``merged_gates.abort_gates``) are judged each second on the
    merged capture: one that fails stops every process, and the result is
    ``aborted`` with the reason. Raises InternalError when a process fails (exit
    code other than 0, 99, 105), with its log's tail.
    """
    pin = check_target(base_url, script)
    capture = RunnerCapture(script.operations, on_second=on_second)
    with capture:
        ended, cpu_percent = run_segments_captured(
            script,
            base_url,
            capture,
            workdir,
            count,
            timeout_s=timeout_s,
            abort_gates=abort_gates,
            extra_env={**pin, **(extra_env or {})},
            on_tick=on_tick,
            secrets=secrets,
        )
        result = finish_exit(capture, script, replace(ended, summary_path=None))
        _, segments = segment_sequence(count)
        return MergedRun(result, tallies(capture, segments, result.duration_s, cpu_percent))


def run_segments_captured(
    script: Script,
    base_url: str,
    capture: RunnerCapture,
    workdir: Path,
    count: int,
    *,
    timeout_s: float,
    abort_gates: tuple[Gate, ...] = (CATASTROPHIC,),
    extra_env: dict[str, str] | None = None,
    on_tick: Callable[[float], None] | None = None,
    secrets: Sequence[str] = (),
) -> tuple[K6Exit, dict[str, float]]:
    """``count`` local k6 segment processes of ``script`` pushing to ``capture`` (started;
    targets already checked, their pin in ``extra_env``): how they ended, as one k6
    (``K6Exit``: code 99 and ``aborted`` when an abort gate failed on the merged
    state, 105 past ``timeout_s`` or when ``on_tick`` raised ``HardCapReached``, whose
    subclasses stop every runner on purpose), and each runner's CPU (percent of a core,
    by segment index). Raises InternalError when a process fails, with its log's tail.
    """
    k6 = find_k6()
    workdir.mkdir(parents=True, exist_ok=True)
    script_path = workdir / "script.js"
    script_path.write_text(script.text, encoding="utf-8")
    sequence, segments = segment_sequence(count)
    processes: list[proc.Process] = []
    watch = AbortWatch(abort_gates, count)
    cpu: dict[str, float] = {}
    secret_values: list[str] = list(secrets)
    started = time.monotonic()
    try:
        for index, segment in enumerate(segments):
            url = capture.url(str(index))
            env = base_env(base_url, extra_env)
            env.update(capture_env(url))
            argv = k6_argv(
                k6,
                script_path,
                capture_url=url,
                summary=None,
                segment=(segment, sequence),
                extra_args=(NO_THRESHOLDS,),
                console=workdir / f"console-{index}.log",
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

    def tick(elapsed: float) -> None:
        _sample_cpu(processes, cpu)
        if on_tick is not None:
            on_tick(elapsed)
        reason = judge_each_second(capture, watch, elapsed)
        if reason is not None:
            raise _MergedAbort(reason)

    aborted: str | None = None
    try:
        codes = wait_all(processes, timeout_s, tick)
    except _MergedAbort as stop:  # wait_all stopped every process on the way out
        aborted, codes = stop.reason, [99] * count
    except HardCapReached as exc:
        aborted = f"{exc.message}: the service kept requests waiting past the end of the test"
        codes = [105] * count
    elapsed = time.monotonic() - started
    for index, code in enumerate(codes):
        if code not in MEASURED_CODES:
            raise InternalError(
                f"k6 segment {segments[index]} exited with code {code}\n"
                f"--- k6 output ---\n{processes[index].tail(30)}",
                hint=f"the script is at {script_path}",
            )
    exchanges, setup = _exchanges(workdir, count, tuple(v for v in secret_values if v))
    cpu_percent = {k: v / elapsed * 100 for k, v in cpu.items()} if elapsed > 0 else {}
    code = next((c for c in codes if c != 0), 0)
    return K6Exit(code, elapsed, None, aborted, exchanges, setup), cpu_percent


def _exchanges(
    workdir: Path, count: int, secrets: tuple[str, ...]
) -> tuple[Exchanges, tuple[SetupTally, ...]]:
    """The runners' failed exchanges, merged per side and operation (``KEPT`` each), and
    what setup made: every runner runs the script's setup, so the first runner's tally
    stands."""
    merged: Exchanges = {}
    setup: tuple[SetupTally, ...] = ()
    for index in range(count):
        console = workdir / f"console-{index}.log"
        for side, by_op in read_exchanges(console, secrets).items():
            for op, items in by_op.items():
                kept = merged.setdefault(side, {}).setdefault(op, [])
                kept.extend(items[: max(0, KEPT - len(kept))])
        if index == 0:
            setup = read_setup(console)
    return merged, setup


def _sample_cpu(processes: Sequence[proc.Process], seen: dict[str, float]) -> None:
    """Each live process's CPU seconds so far (the last reading stays after it exits)."""
    for index, process in enumerate(processes):
        try:
            times = psutil.Process(process.pid).cpu_times()
        except (psutil.Error, OSError):
            continue
        seen[str(index)] = times.user + times.system


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
    """``run_merged``'s result and requests per segment (kept for existing callers;
    ``summary`` is ignored: runners write none, the capture is the result)."""
    del summary
    run = run_merged(
        script,
        base_url,
        workdir,
        count,
        timeout_s=timeout_s,
        extra_env=extra_env,
        on_tick=on_tick,
        on_second=on_second,
        secrets=secrets,
    )
    return run.result, {str(int(r.runner) - 1): r.requests for r in run.runners}
