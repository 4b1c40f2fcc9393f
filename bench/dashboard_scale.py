"""One run's dashboard page at scale, and the webhook beside 50 live watchers (issue 18:
the Scale and Many watchers bars).

``--part scale``: a results store holding one finished run of ``--operations``
operations (default 200) by ``--minutes`` of per-second data (default 30: a
``series`` row per operation and second, a whole-run ``*`` row per second in
``live_points``), with its statistics, three gate outcomes per operation, errors,
findings, resource samples every 0.5 s for both sides and its documents (a
comparison table of four metrics per operation). The real app is served by
waitress on 127.0.0.1 and what the page loads first is fetched ``--repeat`` times
(a fresh connection each; median and slowest, bytes): ``GET /runs/<id>``, the static
files it names (and the modules those import), ``GET /api/runs/<id>`` and
``GET /api/runs/<id>/points`` (the whole run only), and, apart, the points of ONE
operation (what the operation selector loads). Bars: the page opens (HTML + detail
+ points) in under 1 s, and all it loads stays under 5 MB.

``--part watchers``: ``plog serve`` (its own process, ``--threads 8 --max-streams
64``: 72 waitress threads) over a running run that a writer thread feeds once a
second as the worker does (``--write-ops`` operations in ``series``, the whole run
in ``live_points``, the progress row). Signed GitHub deliveries (``ping`` and
``push``, alternating, a fresh connection each) are sent at ``--rate`` a second for
``--seconds``, first with no watcher, then with ``--watchers`` SSE clients (threads
of one other process) reading ``/runs/<id>/events``; their latency p50/p99 side by
side. Bar: p99 under 100 ms with 50 watchers.

    .venv/bin/python -m bench dashboard_scale
    .venv/bin/python -m bench dashboard_scale --part scale --operations 50 --minutes 5

Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import httpx
from waitress.server import create_server

from bench._dashboard import Watchers, deliveries, percentile, plog_serve
from plog_ci.analysis.compare_table import to_json_data
from plog_ci.analysis.comparison import Comparison
from plog_ci.results import TOTAL, OperationStats, SeriesPoint
from plog_ci.store.live import LiveWriter, ProgressWriter, save_documents
from plog_ci.store.sqlite import ResultsStore, open_store
from plog_ci.web import create_app

METRICS = ("p50", "p95", "p99", "error_rate")
GATES = ("p95 < 40ms", "error_rate < 1%", "p95 <= +20%")


def operation_names(count: int) -> list[str]:
    verbs = ("GET", "POST", "PUT", "DELETE")
    return [f"{verbs[i % 4]} /api/v1/resource-{i // 4}/{{id}}/items" for i in range(count)]


def _stats(op: str, rng: random.Random, seconds: int) -> OperationStats:
    p50 = rng.uniform(2, 20)
    count = rng.randrange(20, 200) * seconds
    return OperationStats(
        op, count, count // 500, count / seconds, p50 / 3, p50 * 1.1, p50, p50 * 1.6,
        p50 * 1.9, p50 * 2.6, p50 * 8, {"500": count // 500} if count // 500 else {},
    )  # fmt: skip


def start(store: ResultsStore) -> int:
    return store.start_run(
        repo="/srv/ci/big-service",
        commit_sha=f"{random.getrandbits(160):040x}",
        parent=None,
        base_sha="b" * 40,
        branch="main",
        profile="load",
        config_hash="c" * 64,
        spec_hash="d" * 64,
        environment={"cpus": 2, "k6": "1.1.0"},
    )


def fill_run(home: Path, operations: int, seconds: int, seed: int = 1) -> tuple[int, list[str]]:
    """One finished run of ``operations`` x ``seconds`` per-second data in ``home``'s
    store (see the module doc); its id and operation names."""
    rng = random.Random(seed)
    names = operation_names(operations)
    store = open_store(home)
    try:
        run_id = start(store)
        t0 = int(time.time()) - seconds - 60
        row = "(?,?,?,?,?,?,?,?,?,?)"
        with store.transaction() as conn:
            for op in names:
                base = rng.uniform(2, 20)
                conn.executemany(
                    f"INSERT INTO series (run_id, operation, second, count, failures, p50, p90, "
                    f"p95, p99, max) VALUES {row}",
                    [
                        (run_id, op, t0 + s, 50, s % 97 == 0, base, base * 1.5, base * 1.8,
                         base * 2.5, base * 6)
                        for s in range(seconds)
                    ],
                )  # fmt: skip
        LiveWriter(store, run_id).add(
            [
                SeriesPoint(TOTAL, t0 + s, 50 * operations, 2, p50=8.0, p90=14.0, p95=17.0,
                            p99=30.0, max=90.0)
                for s in range(seconds)
            ]
        )  # fmt: skip
        stats = {op: _stats(op, rng, seconds) for op in names}
        store.save_stats(run_id, "e" * 64, {**stats, TOTAL: _stats(TOTAL, rng, seconds)})
        store.save_errors(run_id, {op: s.errors_by_status for op, s in stats.items()})
        store.save_gate_outcomes(
            run_id,
            [
                {"gate": g, "operation": op, "level": "fail", "value": rng.uniform(1, 50),
                 "passed": rng.random() > 0.02, "decisive": False, "detail": "p95 12.0 ms"}
                for op in names
                for g in GATES
            ],
        )  # fmt: skip
        store.save_findings(
            run_id,
            [{"kind": "slow", "operation": op, "message": f"{op} is slow", "data": {}}
             for op in names[:10]],
        )  # fmt: skip
        for target in ("head", "base"):
            store.save_resources(
                run_id,
                target,
                [(t0 + i / 2, rng.uniform(5, 90), 80_000_000 + i) for i in range(seconds * 2)],
            )
        comparisons = [
            Comparison(op, m, 10.0, 10.5, 5.0, -1.0, 11.0, 0.2, 0.4, "unchanged",
                       "within the noise", 30, 30, "signed-rank")
            for op in names
            for m in METRICS
        ]  # fmt: skip
        save_documents(
            store,
            run_id,
            {
                "comparisons": to_json_data(comparisons),
                "changes": {"note": "no API changes"},
                "baseline": {"source": "store", "note": "", "run_id": None, "run_ids": [],
                             "paired": False},
                "result": {"duration_s": float(seconds), "planned_s": float(seconds),
                           "aborted": None, "setup_requests": 0, "setup": [],
                           "selected": names, "script_hash": "e" * 64, "k6_exit_code": 0},
            },
        )  # fmt: skip
        progress = ProgressWriter(store, run_id)
        progress.stage("finish")
        store.finish_run(run_id, "pass", {"status": "pass", "reason": "every gate held"}, None)
    finally:
        store.close()
    return run_id, names


def timed(client: httpx.Client, url: str, repeat: int) -> tuple[float, float, bytes]:
    """(median s, slowest s, last body) of ``repeat`` GETs, each on a fresh connection."""
    times = []
    body = b""
    for _ in range(repeat):
        started = time.perf_counter()
        res = client.get(url, headers={"Connection": "close"})
        times.append(time.perf_counter() - started)
        if res.status_code != 200:
            raise SystemExit(f"{url}: HTTP {res.status_code}: {res.text[:300]}")
        body = res.content
    return statistics.median(times), max(times), body


_ASSET = re.compile(
    r'(?:src|href)="(/[^"?#]+\.(?:js|css))"'  # the page's <script> and <link>
    r'|from\s+"(/[^"]+\.js)"|import\s+"(/[^"]+\.js)"'  # a module's imports
)


def assets(client: httpx.Client, base: str, html: bytes) -> dict[str, bytes]:
    """The static files the page names and the modules they import, by path."""
    found: dict[str, bytes] = {}
    todo = [html.decode("utf-8", "replace")]
    while todo:
        for match in _ASSET.finditer(todo.pop()):
            path = next(g for g in match.groups() if g)
            if path not in found:
                res = client.get(base + path, headers={"Connection": "close"})
                if res.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {res.status_code}")
                found[path] = res.content
                if path.endswith(".js"):
                    todo.append(res.text)
    return found


def scale(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="plog-bench-scale-") as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        run_id, names = fill_run(home, args.operations, args.minutes * 60)
        rows = args.operations * args.minutes * 60
        print(
            f"store: 1 run, {args.operations} operations x {args.minutes} min "
            f"({rows:,} series rows) written in {time.perf_counter() - started:.1f} s, "
            f"{(home / 'results.sqlite3').stat().st_size / 1e6:.0f} MB"
        )
        app = create_app({"WEBHOOK_SECRET": "bench", "PLOG_HOME": str(home)})
        server = create_server(app, host="127.0.0.1", port=0, threads=8, ident="plog")
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        one = names[len(names) // 2]
        pages = [
            ("page /runs/<id>", f"/runs/{run_id}"),
            ("/api/runs/<id>", f"/api/runs/{run_id}"),
            ("points, whole run", f"/api/runs/{run_id}/points"),
            ("points, one operation", f"/api/runs/{run_id}/points?op={quote(one)}"),
        ]
        try:
            with httpx.Client(timeout=60) as client:
                cold = {label: timed(client, base + path, 1)[0] for label, path in pages}
                head = ("what", "median ms", "max ms", "first ms", "bytes")
                print("{:24s} {:>10s} {:>8s} {:>9s} {:>10s}".format(*head))
                medians, sizes = {}, {}
                for label, path in pages:
                    median, worst, body = timed(client, base + path, args.repeat)
                    medians[label], sizes[label] = median, len(body)
                    if label.startswith("page"):
                        files = assets(client, base, body)
                    print(
                        f"{label:24s} {median * 1000:10.1f} {worst * 1000:8.1f} "
                        f"{cold[label] * 1000:9.1f} {len(body):10,d}"
                    )
                    if label.startswith("points"):
                        points = json.loads(body)["points"]
                        print(f"{'':24s} {len(points):,} points")
                static = sum(len(b) for b in files.values())
                names_ = ", ".join(sorted(files))
                print(f"{'static files':52s} {static:10,d}  ({len(files)}: {names_})")
        finally:
            server.close()
            thread.join(timeout=5)
            app.extensions["plog_intake"].close()
    opens = sum(medians[label] for label, _ in pages[:3])
    total = sum(sizes[label] for label, _ in pages[:3]) + static
    print(
        f"opens in {opens * 1000:.0f} ms (page + detail + whole-run points, medians; bar < 1000), "
        f"loads {total / 1e6:.2f} MB with its static files (bar < 5 MB); "
        f"one operation's points {medians[pages[3][0]] * 1000:.0f} ms, "
        f"{sizes[pages[3][0]] / 1e6:.2f} MB"
    )


def _writer(home: Path, run_id: int, operations: int, stop: threading.Event) -> None:
    """The worker's writes, once a second: each operation's second, the whole run's, progress."""
    store = open_store(home)
    live = LiveWriter(store, run_id)
    progress = ProgressWriter(store, run_id)
    progress.stage("measure")
    progress.step(f"Loading {operations} operations", total=600.0)
    names = operation_names(operations)
    started = time.time()
    try:
        while not stop.wait(1.0 - (time.time() - started) % 1.0):
            now = int(time.time())
            store.save_series(
                run_id, [SeriesPoint(op, now, 40, 0, p50=5.0, p95=9.0) for op in names]
            )
            live.add([SeriesPoint(TOTAL, now, 40 * operations, 0, p50=5.0, p95=9.0)])
            progress.advance_to(time.time() - started)
    finally:
        store.close()


def watchers(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="plog-bench-watch-") as tmp:
        home = Path(tmp)
        store = open_store(home)
        run_id = start(store)
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(home, run_id, args.write_ops, stop))
        writer.start()
        watching: Watchers | None = None
        try:
            with plog_serve(home) as (url, _):
                deliveries(url, 1.0, args.rate, first=10_000_000)  # warm-up
                quiet = deliveries(url, args.seconds, args.rate)
                watching = Watchers(f"{url}/runs/{run_id}/events", args.watchers)
                watching.start()
                busy = deliveries(url, args.seconds, args.rate, first=len(quiet))
                stop.set()
                writer.join()
                store.finish_run(run_id, "pass", {"status": "pass", "reason": "ok"}, None)
                seen = watching.finish()
        finally:
            stop.set()
            if watching is not None:
                watching.stop()
            store.close()
    failed = [w.error for w in seen if w.error or not w.ended]
    print(f"webhook deliveries at {args.rate:g}/s for {args.seconds:g} s each, "
          f"{args.write_ops} operations written a second:")  # fmt: skip
    print(f"{'watchers':>8s} {'deliveries':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    for count, times in ((0, quiet), (args.watchers, busy)):
        print(
            f"{count:8d} {len(times):10d} {percentile(times, 50) * 1000:8.1f} "
            f"{percentile(times, 99) * 1000:8.1f} {max(times) * 1000:8.1f}"
        )
    whole = [len([r for r in w.receipts if r[1] == TOTAL]) for w in seen]
    print(
        f"watchers: {len(seen) - len(failed)} of {len(seen)} read to the end; whole-run "
        f"seconds received each: median {statistics.median(whole):.0f} (min {min(whole)})"
        + (f"; failures: {sorted(set(failed))[:3]}" if failed else "")
    )
    print(f"p99 with {args.watchers} watchers {percentile(busy, 99) * 1000:.1f} ms (bar < 100 ms)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("scale", "watchers", "both"), default="both")
    parser.add_argument("--operations", type=int, default=200, help="scale: operations")
    parser.add_argument("--minutes", type=int, default=30, help="scale: minutes of seconds")
    parser.add_argument("--repeat", type=int, default=5, help="scale: fetches per URL")
    parser.add_argument("--watchers", type=int, default=50, help="SSE clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="deliveries per phase, s")
    parser.add_argument("--rate", type=float, default=10.0, help="deliveries a second")
    parser.add_argument("--write-ops", type=int, default=20, help="operations written a second")
    args = parser.parse_args(argv)
    if args.part in ("scale", "both"):
        scale(args)
    if args.part in ("watchers", "both"):
        watchers(args)


if __name__ == "__main__":
    main()
