"""A run watched live on the dashboard: how late the browser holds each second, and
what watching costs the load (issue 18: the Latency of live data and No cost to the
measurement bars).

Each trial is ``plog run``'s measuring path for real: the example service
(examples/petstore, its GET operations), a generated k6 script of ``--vus`` VUs
(closed model) for ``--seconds``, k6 pushing to PLog's capture once a second, the
capture's points through ``SeriesFanout`` (flushed on the runner's 0.25-s tick)
into ``SeriesWriter`` and ``LiveWriter`` in a results store, the run's row and
progress as the pipeline writes them. ``plog serve`` runs over that store in a
process of its own for the whole benchmark; a watched trial has ``N`` SSE clients
(threads of another process, as browsers are) on ``/runs/<id>/events`` from before
k6 starts until the run's ``end`` event, the server polling the store for each.

- Latency: for each whole-run second a watcher receives, its receive time minus
  the wall time the capture received k6's push (exact: the benchmark records each
  push), and the bounds from the point alone (``second`` is the push's whole
  second: receive - second is at most 1 s over the truth, receive - (second+1) at
  most 1 s under it). Bar: median under 2 s.
- Cost: k6's requests per second (the capture's count over the planned seconds),
  with ``N`` watchers against none. Rounds run every arm (0 and each of
  ``--watchers``) in a rotated order; the figure is the median over rounds of
  watched / unwatched. Bar: at least 0.97. An arm of 0 in ``--watchers`` is a
  second unwatched arm: its ratio (A/A) is the noise of the figure on this machine.

    .venv/bin/python -m bench dashboard_live                 # 7 rounds of 10-s runs
    .venv/bin/python -m bench dashboard_live --rounds 3 --seconds 5 --watchers 1
    .venv/bin/python -m bench dashboard_live --watchers 1,5,0   # with an A/A arm

Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench._dashboard import Watched, Watchers, percentile, plog_serve
from plog_ci.config.model import LoadConfig
from plog_ci.openapi.load import load_spec_file
from plog_ci.results import TOTAL, SeriesPoint
from plog_ci.runner.k6 import run_k6
from plog_ci.series import SeriesFanout
from plog_ci.store.details import SeriesWriter
from plog_ci.store.live import LiveWriter, ProgressWriter
from plog_ci.store.sqlite import ResultsStore, open_store
from testing.paths import EXAMPLE
from testing.servers import petstore


@dataclass
class Trial:
    watchers: int
    rps: float
    pushes: dict[int, float]  # placed whole second -> wall time the capture got the push
    seen: list[Watched]
    dashboard_cpu_s: float  # CPU time of plog serve and the watchers during the run


class PushClock:
    """The capture's ``on_second`` in front of ``SeriesFanout.collect``: notes when each
    push's whole-run point arrived and which whole second the fanout will place it
    on (the same rule: a second already taken moves to the next)."""

    def __init__(self, collect: Callable[[list[SeriesPoint]], None]) -> None:
        self.collect = collect
        self.pushes: dict[int, float] = {}
        self.last = -1
        self.lock = threading.Lock()

    def __call__(self, points: list[SeriesPoint]) -> None:
        now = time.time()
        with self.lock:
            for p in points:
                if p.operation == TOTAL and p.second > 0 and (p.count > 0 or self.last >= 0):
                    self.last = max(int(p.second), self.last + 1)
                    self.pushes[self.last] = now
        self.collect(points)


def _start(store: ResultsStore) -> int:
    return store.start_run(
        repo=str(EXAMPLE),
        commit_sha="f" * 40,
        parent=None,
        base_sha=None,
        branch="main",
        profile="load",
        config_hash="c" * 64,
        spec_hash=None,
        environment={},
    )


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def trial(
    home: Path,
    server: tuple[str, int],
    service: str,
    script_args: tuple[int, float],
    watchers: int,
) -> Trial:
    """One measured k6 run into ``home``'s store, watched by ``watchers`` SSE clients."""
    from plog_ci.loadgen.script import generate

    vus, seconds = script_args
    spec = load_spec_file(EXAMPLE / "openapi.yaml")
    ops = [op for op in spec.operations.values() if op.method.upper() == "GET"]
    load = LoadConfig(profile="load", model="closed", vus=vus, duration_s=seconds)
    script = generate(spec, ops, load, service)
    store = open_store(home)
    watching: Watchers | None = None
    try:
        run_id = _start(store)
        progress = ProgressWriter(store, run_id)
        progress.stage("measure")
        progress.step(f"Loading {len(ops)} operations for {seconds:g} s", total=seconds)
        fanout = SeriesFanout([SeriesWriter(store, run_id), LiveWriter(store, run_id)])
        clock = PushClock(fanout.collect)
        if watchers:
            watching = Watchers(f"{server[0]}/runs/{run_id}/events", watchers)
            watching.start()
        server_cpu = _cpu(server[1])
        with tempfile.TemporaryDirectory(prefix="plog-bench-live-") as work:
            result = run_k6(
                script,
                service,
                Path(work),
                timeout_s=seconds + 60,
                on_tick=fanout.ticker(progress.advance_to),
                on_second=clock,
                summary=False,
            )
        fanout.stop()
        progress.stage("finish")
        store.finish_run(run_id, "pass", {"status": "pass", "reason": "bench"}, None)
        seen = watching.finish() if watching is not None else []
        cpu = _cpu(server[1]) - server_cpu + (watching.cpu_s if watching is not None else 0.0)
    finally:
        if watching is not None:
            watching.stop()
        store.close()
    if result.k6_exit_code != 0:
        raise SystemExit(f"k6 exited {result.k6_exit_code}")
    return Trial(watchers, result.total.count / seconds, clock.pushes, seen, cpu)


def delays(trial: Trial) -> tuple[list[float], list[float], list[float]]:
    """(receive - push, receive - second, receive - (second + 1)) of every whole-run
    second every watcher received, in seconds."""
    exact, upper, lower = [], [], []
    for watched in trial.seen:
        for side, op, second, received in watched.receipts:
            if side != "" or op != TOTAL:
                continue
            if second in trial.pushes:
                exact.append(received - trial.pushes[second])
            upper.append(received - second)
            lower.append(received - second - 1)
    return exact, upper, lower


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "none"
    return (
        f"median {statistics.median(values) * 1000:.0f} ms, p90 "
        f"{percentile(values, 90) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of every arm")
    parser.add_argument("--seconds", type=float, default=10.0, help="k6 run length")
    parser.add_argument("--vus", type=int, default=10, help="k6 VUs (closed model)")
    parser.add_argument(
        "--watchers",
        default="1,5",
        help="watched arms: SSE clients each, comma-separated (0: an A/A arm)",
    )
    parser.add_argument("--warm-up", type=float, default=5.0, help="unmeasured first run, s")
    args = parser.parse_args(argv)
    # Arm 0 is the unwatched reference; a later arm of 0 watchers is an A/A arm that
    # shows the noise of the ratio itself on this machine.
    arms = [0, *(int(n) for n in args.watchers.split(",") if n.strip())]
    rounds: list[list[Trial]] = []
    with (
        tempfile.TemporaryDirectory(prefix="plog-bench-live-home-") as tmp,
        petstore() as service,
        plog_serve(Path(tmp)) as server,
    ):
        home = Path(tmp)
        script_args = (args.vus, args.seconds)
        if args.warm_up > 0:  # the service's and k6's first run are slower
            trial(home, server, service, (args.vus, args.warm_up), 0)
        for r in range(args.rounds):
            order = [(r + k) % len(arms) for k in range(len(arms))]
            done = {i: trial(home, server, service, script_args, arms[i]) for i in order}
            rounds.append([done[i] for i in range(len(arms))])
            print(
                f"round {r + 1} (order {', '.join(str(arms[i]) for i in order)}): "
                + ", ".join(f"{t.watchers} -> {t.rps:,.0f}" for t in rounds[-1])
                + " req/s",
                flush=True,
            )
    print(f"k6 req/s, {args.vus} VUs, {args.seconds:g}-s runs, {args.rounds} rounds:")
    for i in range(1, len(arms)):
        ratios = [group[i].rps / group[0].rps for group in rounds]
        name = f"{arms[i]} watcher(s)" if arms[i] else "none again (A/A)"
        print(
            f"  {name} / none: median ratio {statistics.median(ratios):.3f} "
            f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)}; bar >= 0.97)"
        )
    print(f"  none: median {statistics.median(g[0].rps for g in rounds):,.0f} req/s")
    print("CPU of plog serve and the watchers' process during a run (median; 2 cores here):")
    for i, n in enumerate(arms):
        cpu = statistics.median(g[i].dashboard_cpu_s for g in rounds)
        print(f"  {n} watcher(s): {cpu:.3f} CPU-s, {cpu / args.seconds:.2%} of one core")
    trials = [t for group in rounds for t in group]
    exact, upper, lower = [], [], []
    failed = 0
    for t in trials:
        e, u, lo = delays(t)
        exact += e
        upper += u
        lower += lo
        failed += sum(1 for w in t.seen if w.error or not w.ended)
    print(f"live data, whole-run seconds received by every watcher ({len(exact)}):")
    print(f"  receive - k6's push reached the capture: {_ms(exact)} (bar: median < 2 s)")
    print(f"  receive - second (upper bound):           {_ms(upper)}")
    print(f"  receive - (second + 1) (lower bound):     {_ms(lower)}")
    if failed:
        print(f"  {failed} watcher(s) failed or did not see the end")


if __name__ == "__main__":
    main()
