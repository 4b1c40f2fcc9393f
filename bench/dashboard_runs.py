"""The dashboard's runs list on a store of 10,000 runs (issue 18, Scale bar: under 1 s).

A results store is filled with ``--runs`` runs (default 10,000: five repositories,
twenty branches, statuses and verdicts mixed as CI makes them, written in the
store's own schema) and a queue with a few waiting and running jobs; the real app
is served by waitress on 127.0.0.1 and each page is fetched over HTTP ``--repeat``
times (a fresh connection each), the median and the slowest printed with the
page's size in bytes:

- the first page (no filter), as ``plog serve``'s ``/`` opens;
- a repository and branch filter; a rare status (``error``) filter;
- a deep page (keyset ``before`` near the oldest run);
- ``/api/runs`` (the JSON the later pages read).

    .venv/bin/python -m bench dashboard_runs
    .venv/bin/python -m bench dashboard_runs --runs 100000 --repeat 5

Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from waitress.server import create_server

from plog_ci.queue import JobSpec, Queue
from plog_ci.store.sqlite import open_store
from plog_ci.web import create_app

REPOS = [f"/srv/ci/service-{i}" for i in range(5)]
BRANCHES = ["main"] + [f"feature/ticket-{i}" for i in range(19)]
STATUSES = ["pass"] * 80 + ["fail"] * 15 + ["no-verdict"] * 4 + ["error"]


def fill(home: Path, runs: int, seed: int = 1) -> None:
    """``runs`` finished runs in ``home``'s results store, plus a few queued jobs."""
    rng = random.Random(seed)
    store = open_store(home)
    t0 = time.time() - runs * 600.0
    try:
        with store.transaction() as conn:
            for repo in REPOS:
                conn.execute("INSERT INTO repositories (path) VALUES (?)", (repo,))
            rows = []
            for i in range(runs):
                status = rng.choice(STATUSES)
                verdict = {
                    "status": status,
                    "reason": f"{status}: p95 of GET /pets/{{petId}} {rng.uniform(-5, 30):.1f}%",
                    "decided_by": [
                        {"gate": "p95 < +10%", "operation": f"GET /items/{k}"} for k in range(2)
                    ]
                    if status == "fail"
                    else [],
                }
                started = t0 + i * 600.0
                rows.append(
                    (
                        rng.randrange(1, len(REPOS) + 1),
                        f"{rng.getrandbits(160):040x}",
                        rng.choice(BRANCHES),
                        status,
                        started,
                        started + rng.uniform(20, 400),
                        json.dumps(verdict),
                    )
                )
            conn.executemany(
                "INSERT INTO runs (repo_id, commit_sha, branch, profile, status, started_at, "
                "finished_at, verdict, environment) VALUES (?, ?, ?, 'smoke', ?, ?, ?, ?, '{}')",
                rows,
            )
    finally:
        store.close()
    queue = Queue(home)
    for k in range(4):
        queue.enqueue(JobSpec(repo=f"org/service-{k}", head=f"{k:040x}", branch="main"))
    queue.claim("bench")
    queue.close()


def timed(client: httpx.Client, url: str, repeat: int) -> tuple[float, float, int]:
    """(median s, slowest s, body bytes) of ``repeat`` GETs, each on a fresh connection."""
    times = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        res = client.get(url, headers={"Connection": "close"})
        times.append(time.perf_counter() - started)
        if res.status_code != 200:
            raise SystemExit(f"{url}: HTTP {res.status_code}: {res.text[:200]}")
        size = len(res.content)
    return statistics.median(times), max(times), size


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the store")
    parser.add_argument("--repeat", type=int, default=9, help="fetches per page (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="plog-bench-dash-") as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        fill(home, args.runs)
        print(f"store: {args.runs} runs written in {time.perf_counter() - started:.1f} s")
        app = create_app({"WEBHOOK_SECRET": "bench", "PLOG_HOME": str(home)})
        server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="plog")
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        pages = [
            ("first page", "/"),
            ("repo + branch filter", f"/?repo={REPOS[2]}&branch=feature/ticket-7"),
            ("status=error filter", "/?status=error"),
            ("deep page (before=60)", "/?before=60"),
            ("/api/runs first page", "/api/runs"),
        ]
        try:
            with httpx.Client(timeout=30) as client:
                timed(client, base + "/", 1)  # warm-up: imports, templates compiled
                print(f"{'page':24s} {'median ms':>10s} {'max ms':>8s} {'bytes':>8s}")
                for label, path in pages:
                    median, worst, size = timed(client, base + path, args.repeat)
                    print(f"{label:24s} {median * 1000:10.1f} {worst * 1000:8.1f} {size:8d}")
        finally:
            server.close()
            thread.join(timeout=5)
            app.extensions["plog_intake"].close()


if __name__ == "__main__":
    main()
