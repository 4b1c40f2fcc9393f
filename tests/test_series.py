"""The live series: one fan-out to every sink (SQLite, InfluxDB), points on whole seconds."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from plog_ci.config import parse_config
from plog_ci.errors import InputError
from plog_ci.results import OperationStats, SeriesPoint
from plog_ci.series import SeriesFanout
from plog_ci.store.details import SeriesWriter
from plog_ci.store.influx_export import InfluxSeries
from plog_ci.store.sqlite import ResultsStore, open_store
from testing.influx_servers import free_port

BASE_YML = "version: 1\nservice: {run: ./serve}\nopenapi: openapi.yaml\n"


class Recording:
    def __init__(self) -> None:
        self.batches: list[list[SeriesPoint]] = []
        self.stopped: list[BaseException | None] = []

    def add(self, points: Sequence[SeriesPoint]) -> None:
        self.batches.append(list(points))

    def stop(self, error: BaseException | None) -> None:
        self.stopped.append(error)


def _run(store: ResultsStore) -> int:
    return store.start_run(
        repo="/r", commit_sha="a" * 40, parent=None, base_sha=None, branch="main",
        profile="load", config_hash="c", spec_hash=None, environment={},
    )  # fmt: skip


def test_every_sink_gets_the_same_whole_second_batches_and_one_stop(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    run_id = _run(store)
    first, second = Recording(), Recording()
    fanout = SeriesFanout([first, SeriesWriter(store, run_id)])
    fanout.register(second)
    # The capture calls collect on its own HTTP thread.
    pushed = threading.Thread(
        target=fanout.collect,
        args=([SeriesPoint("GET /a", 100.4, 5, 1, p95=3.0), SeriesPoint("GET /b", 100.4, 2)],),
    )
    pushed.start()
    pushed.join()
    fanout.flush()
    fanout.collect([SeriesPoint("GET /a", 100.9, 7, p95=4.0)])  # same wall-clock second
    fanout.stop()
    assert first.batches == second.batches
    assert [[(p.operation, p.second, p.count) for p in b] for b in first.batches] == [
        [("GET /a", 100, 5), ("GET /b", 100, 2)],
        [("GET /a", 101, 7)],
    ]
    assert first.stopped == second.stopped == [None]
    stored = store.series(run_id, "GET /a")
    assert [(p.second, p.count, p.failures, p.p95) for p in stored] == [
        (100, 5, 1, 3.0),
        (101, 7, 0, 4.0),
    ]
    fanout.flush()  # nothing queued: no empty batch
    assert len(first.batches) == 2


def test_sinks_stop_once_however_the_run_ends(tmp_path: Path) -> None:
    sink = Recording()
    fanout = SeriesFanout([sink])
    fanout.collect([SeriesPoint("GET /a", 5.0, 1)])
    with pytest.raises(KeyboardInterrupt), ExitStack() as teardown:
        teardown.push(fanout.stop_on_exit)
        raise KeyboardInterrupt
    assert len(sink.stopped) == 1 and isinstance(sink.stopped[0], KeyboardInterrupt)
    assert sink.batches == []  # an interrupted run hands nothing more on
    # The InfluxDB sink writes completed runs only.
    store = open_store(tmp_path / "store")
    run_id = _run(store)
    influx = InfluxSeries(store, run_id, parse_config(_dead_influx()), tmp_path)
    influx.add([SeriesPoint("GET /a", 1_700_000_000, 10)])
    influx.stop(RuntimeError("k6 crashed"))
    assert influx.report is None and _spooled(tmp_path) == []
    # Nor one that measured nothing ("no operation changed").
    idle = InfluxSeries(store, run_id, parse_config(_dead_influx()), tmp_path)
    idle.stop(None)
    assert idle.report is None and _spooled(tmp_path) == []


def test_a_point_that_no_measurement_can_produce_is_refused() -> None:
    with pytest.raises(InputError, match="failures 3 > count 2"):
        SeriesPoint("GET /a", 1.5, 2, 3)
    with pytest.raises(InputError, match="second"):
        SeriesPoint("GET /a", float("nan"), 1)


def _spooled(home: Path) -> list[str]:
    return [
        line
        for path in sorted((home / "spool" / "influx").glob("*.lp"))
        for line in path.read_text().splitlines()
    ]


def _dead_influx() -> str:
    return BASE_YML + f"influx:\n  url: http://127.0.0.1:{free_port()}\n  retries: 0\n"


def test_the_influx_sink_writes_what_streamed_when_the_run_is_recorded(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    run_id = _run(store)
    sink = InfluxSeries(store, run_id, parse_config(_dead_influx()), tmp_path)
    sink.add([SeriesPoint("GET /a", 1_700_000_000 + s, 10, mean=2.0, p95=4.0) for s in range(3)])
    assert _spooled(tmp_path) == []  # nothing is sent while the load runs
    store.finish_run(run_id, "pass", {"status": "pass"}, None)
    sink.stop(None)
    lines = _spooled(tmp_path)  # InfluxDB is down: the batch waits in the spool
    assert [line.rsplit(" ", 1)[1] for line in lines] == [str(1_700_000_000 + s) for s in range(3)]
    assert all("count=10i" in line and "mean=2" in line for line in lines)
    assert sink.report is not None and sink.report.spooled == 3


def test_the_influx_sink_falls_back_to_the_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    run_id = _run(store)
    stats = OperationStats("GET /a", 40, 1, 20.0, 1.0, 3.0, 2.5, 4.0, 5.0, 7.0, 9.0)
    store.save_stats(run_id, "script", {"GET /a": stats})
    store.finish_run(run_id, "pass", {"status": "pass"}, None)
    # Nothing streamed (an interleaved run keeps blocks): one summary point per operation.
    quiet = InfluxSeries(store, run_id, parse_config(_dead_influx()), tmp_path / "quiet")
    quiet.stop(None)
    (line,) = _spooled(tmp_path / "quiet")
    assert "count=40i" in line and line.endswith(str(int(store.get_run(run_id).finished_at or 0)))
    # More than it may hold: what the store kept is sent instead.
    store.save_series(run_id, [SeriesPoint("GET /a", 50 + s, 1) for s in range(4)])
    busy = InfluxSeries(
        store, run_id, parse_config(_dead_influx()), tmp_path / "busy", max_points=2
    )
    busy.add([SeriesPoint("GET /a", 50 + s, 1, mean=1.0) for s in range(3)])
    busy.stop(None)
    assert [line.rsplit(" ", 1)[1] for line in _spooled(tmp_path / "busy")] == [
        "50",
        "51",
        "52",
        "53",
    ]
