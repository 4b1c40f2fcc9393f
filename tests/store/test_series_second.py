"""The store's ``series.second``: Unix time in whole seconds, from the run's first second
with requests on, strictly increasing per operation (issue 17: "holds 0-4 and then
epoch seconds within one run").

The 0-4 came from k6's pushes before any request had ended (a slow setup or first
request): the capture has no time for them (``second`` 0, no requests) and the
fan-out then placed them at 0, 1, 2, ...
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from plog_ci.results import SeriesPoint
from plog_ci.series import SeriesFanout
from plog_ci.store.details import SeriesWriter
from plog_ci.store.sqlite import ResultsStore, open_store
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.repos import commit_files, plog_run

NOW = 1_795_000_000


def _run(store: ResultsStore) -> int:
    return store.start_run(
        repo="/r", commit_sha="a" * 40, parent=None, base_sha=None, branch="main",
        profile="load", config_hash="c", spec_hash=None, environment={},
    )  # fmt: skip


def test_pushes_before_the_first_request_are_not_in_the_series(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    run_id = _run(store)
    fanout = SeriesFanout([SeriesWriter(store, run_id)])
    ops = ("GET /a", "GET /b")
    for _ in range(5):  # pushes that held no request yet: no time, no requests
        fanout.collect([SeriesPoint(op, 0.0, 0) for op in ops])
        fanout.flush()
    fanout.collect([SeriesPoint(op, NOW + 0.3, 0) for op in ops])  # setup's second
    fanout.flush()
    # The first push with requests: GET /b has none in it and still has its second.
    fanout.collect([SeriesPoint("GET /a", NOW + 1.4, 4), SeriesPoint("GET /b", NOW + 1.4, 0)])
    fanout.collect([SeriesPoint("GET /a", NOW + 2.4, 5), SeriesPoint("GET /b", NOW + 2.4, 2)])
    fanout.collect([SeriesPoint("GET /a", 0.0, 0)])  # a second k6 process's first push
    fanout.flush()
    rows = store.series(run_id)
    assert [(r.operation, r.second, r.count) for r in rows] == [
        ("GET /a", NOW + 1, 4),
        ("GET /a", NOW + 2, 5),
        ("GET /b", NOW + 1, 0),
        ("GET /b", NOW + 2, 2),
    ]
    store.close()


def test_rows_an_older_version_wrote_before_the_first_request_are_left_out(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path)
    run_id = _run(store)
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO series (run_id, operation, second, count, failures) VALUES (?,?,?,?,?)",
            [(run_id, "GET /a", s, 0, 0) for s in range(5)]
            + [(run_id, "GET /a", NOW, 0, 0), (run_id, "GET /a", NOW + 1, 7, 1)],
        )
    assert [(r.second, r.count) for r in store.series(run_id)] == [(NOW + 1, 7)]
    assert store.series(run_id + 1) == []
    store.close()


SLOW_SETUP_YML = """\
version: 1
service:
  run: python app.py --port {port}
  health: /health
openapi: openapi.yaml
load:
  rate: 5
  duration: 5s
  operations: ["GET /pets", "POST /pets"]
  setup_resources: 1
compare:
  mode: "off"
"""


def test_a_run_whose_first_request_is_slow_keeps_unix_seconds_in_order(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("slow-setup")
    app = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    # The example's benchmark knob: every POST /pets (setup's producer first) waits 2.5 s,
    # so k6 pushes twice before any request has ended.
    for line, slow in (
        ('SLOW_OPERATION = ""', 'SLOW_OPERATION = "POST /pets"'),
        ("SLOWDOWN = 0.0", "SLOWDOWN = 1.0"),
        ("NORMAL_MS = 0.0", "NORMAL_MS = 2500.0"),
    ):
        assert line in app
        app = app.replace(line, slow)
    commit_files(
        repo,
        {
            "app.py": app,
            "openapi.yaml": (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8"),
            "plog.yml": SLOW_SETUP_YML,
        },
        "slow",
    )
    done = plog_run(repo, plog_home, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = int(re.findall(r"run(\d+)\.md", done.stdout)[-1])
    store = open_store(plog_home)
    record = store.get_run(run_id)
    finished = record.finished_at or 0.0
    raw = store.conn.execute(
        "SELECT operation, second, count FROM series WHERE run_id = ? ORDER BY rowid", (run_id,)
    ).fetchall()
    assert raw, "the run kept no series"
    for op in ("GET /pets", "POST /pets"):
        seconds = [s for o, s, _ in raw if o == op]
        # In the declared range (Unix time within the run), strictly increasing as written.
        assert all(record.started_at - 1 <= s <= finished + 1 for s in seconds), seconds
        assert seconds == sorted(set(seconds)), seconds
    first = min(s for _, s, _ in raw)
    assert sum(n for _, s, n in raw if s == first) > 0  # it begins with requests
    assert (
        sum(n for o, _, n in raw if o == "GET /pets")
        == store.operation_stats(run_id)["GET /pets"].count
    )
    store.close()
