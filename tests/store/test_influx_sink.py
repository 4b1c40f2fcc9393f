"""The InfluxDB sink against real servers on loopback, and its line protocol."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plog_ci.errors import ConfigError, InputError
from plog_ci.results import SeriesPoint
from plog_ci.store.influx import (
    InfluxSettings,
    InfluxSink,
    RunTags,
    describe,
    to_line,
)
from testing.influx_servers import InfluxServer, VictoriaMetrics, free_port, require_binary

TAGS = RunTags(repo="shop", commit="3f2a9c1", branch="main", run_id="42", profile="smoke")
# Recent, whole hour: inside VictoriaMetrics' retention, and the same within a test.
BASE = (int(time.time()) // 3600 - 2) * 3600
OPS = ("GET /pets", "GET /pets/{petId}", "POST /pets")


def points(n_seconds: int, ops: tuple[str, ...] = OPS, start: int = BASE) -> list[SeriesPoint]:
    out = []
    for s in range(n_seconds):
        for k, op in enumerate(ops):
            out.append(
                SeriesPoint(
                    op,
                    start + s,
                    count=100 + s + k,
                    failures=s % 3,
                    p50=5.0 + s / 4,
                    p95=20.0 + k + s / 8,
                    p99=40.5,
                    max=90.0,
                )
            )
    return out


def quick(url: str, **kwargs: object) -> InfluxSettings:
    defaults: dict[str, object] = {"retries": 1, "backoff_s": 0.01, "timeout_s": 3.0}
    defaults.update(kwargs)
    return InfluxSettings(url, **defaults)  # type: ignore[arg-type]


# -- line protocol and input checks (no server) -----------------------------------


def test_line_protocol_is_exact_and_sorted() -> None:
    p = SeriesPoint(
        "GET /pets/{petId}",
        1_700_000_000,
        count=180,
        failures=2,
        p50=8.1,
        p95=21.5,
        p99=40.0,
        max=float("inf"),
        mean=float("nan"),
    )
    assert to_line("plog_requests", TAGS, p) == (
        "plog_requests,branch=main,commit=3f2a9c1,operation=GET\\ /pets/{petId},profile=smoke,"
        "repo=shop,run_id=42 count=180i,failures=2i,p50=8.1,p95=21.5,p99=40 1700000000"
    )


def test_hostile_tag_values_stay_on_one_line() -> None:
    tags = RunTags(repo="a,b=c d", commit="x", branch="feat\nfake_line count=1i 1", run_id="r\\")
    line = to_line("m", tags, SeriesPoint("GET /x\r\n", 1, count=1))
    assert "\n" not in line and "\r" not in line
    assert "branch=feat\\x0afake_line\\ count\\=1i\\ 1" in line
    assert "repo=a\\,b\\=c\\ d" in line
    assert line.endswith("run_id=r\\x5c count=1i,failures=0i 1")
    assert "profile" not in line  # empty tags are left out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1}, "count = -1"),
        ({"count": True}, "count = True"),
        ({"count": 1.5}, "count = 1.5"),
        ({"count": 1, "failures": 2}, "failures 2 > count 1"),
        ({"count": 1, "p95": -3.0}, "p95 = -3.0"),
        ({"count": 1, "p95": "fast"}, "p95 = 'fast'"),
    ],
)
def test_hostile_points_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        SeriesPoint("GET /x", 1, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="operation"):
        SeriesPoint("", 1, count=1)
    with pytest.raises(InputError, match="second"):
        SeriesPoint("GET /x", -5, count=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "file:///etc/passwd"}, "not an http"),
        ({"url": "http://user:pw@127.0.0.1:8086"}, "must not carry credentials"),
        ({"api": "v9"}, "not v1 or v2"),
        ({"api": "v2"}, "needs an org and a bucket"),
        ({"database": ""}, "needs a database"),
        ({"measurement": "m,evil=1 x"}, "not a plain name"),
        ({"batch_size": 0}, "batch_size"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"url": "http://127.0.0.1:8086"}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        InfluxSettings(**args)  # type: ignore[arg-type]


def test_secrets_stay_out_of_repr_and_description() -> None:
    s = InfluxSettings("http://127.0.0.1:1", api="v2", org="o", bucket="b", token="s3cr3t-token")
    assert "s3cr3t" not in repr(s) and "s3cr3t" not in str(describe(s))


def test_unreachable_server_spools_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    sink = InfluxSink(quick(url, password="pw-secret", username="u", batch_size=4), tmp_path)
    with caplog.at_level(logging.WARNING):
        report = sink.write(TAGS, points(3))
    assert (report.written, report.spooled) == (0, 9)
    assert sink.spooled_lines() == 9
    # After the first failed batch the rest goes straight to the spool: one warning.
    assert len(report.warnings) == 1 and "gave up after 2 tries" in report.warnings[0]
    assert "pw-secret" not in caplog.text


def test_full_spool_drops_with_a_warning(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    sink = InfluxSink(quick(url, retries=0, max_spool_bytes=300, batch_size=1), tmp_path)
    report = sink.write(TAGS, points(2))
    assert report.spooled >= 1 and report.dropped >= 1
    assert report.spooled + report.dropped == 6
    assert any("is full" in w for w in report.warnings)


def test_v2_client_unreachable_spools(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    sink = InfluxSink(quick(url, api="v2", org="o", bucket="b", token="t"), tmp_path)
    report = sink.write(TAGS, points(2))
    assert report.spooled == 6 and report.written == 0


def test_missing_server_binary_skips_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-influxd is not installed"):
        require_binary("no-such-influxd")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-influxd is not installed"):
        require_binary("no-such-influxd")


# -- InfluxDB 1.x ---------------------------------------------------------------------


def _rows(server: InfluxServer) -> list[dict[str, object]]:
    return server.query('SELECT * FROM "plog_requests" GROUP BY * ORDER BY time')


@pytest.mark.slow
def test_influx_v1_write_read_back_and_rewrite_is_idempotent(
    influx: InfluxServer, tmp_path: Path
) -> None:
    influx.create_db()
    sink = InfluxSink(quick(influx.url, batch_size=7), tmp_path / "spool")
    sent = points(10)
    report = sink.write(TAGS, sent)
    assert (report.written, report.spooled, report.warnings) == (30, 0, [])
    r = influx.query(
        'SELECT count, failures, p95 FROM "plog_requests" '
        "WHERE operation = 'GET /pets/{petId}' ORDER BY time"
    )
    assert [row["time"] for row in r] == [BASE + s for s in range(10)]
    assert [row["count"] for row in r] == [p.count for p in sent if p.operation == OPS[1]]
    assert [row["p95"] for row in r] == [p.p95 for p in sent if p.operation == OPS[1]]
    # Same points again (a retry): overwritten, not duplicated.
    assert sink.write(TAGS, sent).written == 30
    total = influx.query('SELECT count("count") FROM "plog_requests"')
    assert total[0]["count"] == 30
    tags = influx.query('SHOW TAG VALUES FROM "plog_requests" WITH KEY = "run_id"')
    assert [t["value"] for t in tags] == ["42"]


@pytest.mark.slow
def test_influx_v1_hostile_operation_names_round_trip(influx: InfluxServer, tmp_path: Path) -> None:
    influx.create_db()
    names = ["GET /a b,c=d", "GET /trail\\", "GET /x\ny 1i 5"]
    sink = InfluxSink(quick(influx.url), tmp_path)
    report = sink.write(TAGS, [SeriesPoint(n, BASE, count=1) for n in names])
    assert report.written == 3 and report.rejected == 0
    got = sorted(
        str(t["value"])
        for t in influx.query('SHOW TAG VALUES FROM "plog_requests" WITH KEY = "operation"')
    )
    assert len(got) == 3
    assert "GET /a b,c=d" in got
    assert "GET /trail\\x5c" in got
    assert any(v.startswith("GET /x\\x0ay") for v in got)


@pytest.mark.slow
def test_influx_v1_refused_data_is_dropped_not_spooled(
    influx: InfluxServer, tmp_path: Path
) -> None:
    influx.create_db()
    # Someone else's float "count" in the same measurement: ours (integer) conflicts.
    httpx.post(
        f"{influx.url}/write",
        params={"db": "plog", "precision": "s"},
        content=f"plog_requests,operation=other count=1.5 {BASE}",
    ).raise_for_status()
    sink = InfluxSink(quick(influx.url), tmp_path)
    report = sink.write(TAGS, points(2))
    assert (report.rejected, report.spooled, sink.spooled_lines()) == (6, 0, 0)
    assert "HTTP 400" in report.warnings[0] and "field type conflict" in report.warnings[0]


@pytest.mark.slow
def test_influx_v1_missing_database_spools_then_backfills(
    influx: InfluxServer, tmp_path: Path
) -> None:
    sink = InfluxSink(quick(influx.url), tmp_path)
    report = sink.write(TAGS, points(5))
    assert report.spooled == 15 and "HTTP 404" in report.warnings[0]
    influx.create_db()
    again = sink.backfill()
    assert (again.backfilled, sink.spooled_lines()) == (15, 0)
    assert not list(tmp_path.glob("*.lp"))
    assert len(_rows(influx)) == 15


@pytest.mark.slow
def test_influx_v1_outage_mid_write_spools_and_backfills_exactly_once(
    influx: InfluxServer, tmp_path: Path
) -> None:
    influx.create_db()
    sink = InfluxSink(quick(influx.url, batch_size=10), tmp_path)
    sent = points(20)  # 60 points, 6 batches

    def stream() -> Iterator[SeriesPoint]:
        for i, p in enumerate(sent):
            if i == 25:  # batches 1-2 are written, batch 3 is being filled
                influx.stop()
            yield p

    report = sink.write(TAGS, stream())
    assert (report.written, report.spooled) == (20, 40)
    assert sink.spooled_lines() == 40
    assert len(_rows_started(influx)) == 20  # restarts to look, then stops below
    influx.stop()
    # Still down: the next run's points join the spool, in order.
    later = points(2, start=BASE + 100)
    assert sink.write(TAGS, later).spooled == 6
    influx.start()
    final = sink.write(TAGS, [])
    assert (final.backfilled, final.written, sink.spooled_lines()) == (46, 0, 0)
    rows = _rows(influx)
    keys = [(r["operation"], r["time"]) for r in rows]
    assert len(keys) == len(set(keys)) == 66
    expected = {(p.operation, p.second): p.count for p in [*sent, *later]}
    assert {(r["operation"], r["time"]): r["count"] for r in rows} == expected


def _rows_started(server: InfluxServer) -> list[dict[str, object]]:
    server.start()
    return _rows(server)


# -- VictoriaMetrics (/api/v2/write via influxdb-client, and /write) --------------------


def _series(vm: VictoriaMetrics, field: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for item in vm.export(f'{{__name__="plog_requests_{field}"}}'):
        metric = item["metric"]
        assert isinstance(metric, dict)
        values = dict(zip(item["timestamps"], item["values"], strict=True))  # type: ignore[call-overload]
        assert len(values) == len(item["timestamps"]), "duplicate timestamps"  # type: ignore[arg-type]
        out[str(metric["operation"])] = {int(ts) // 1000: float(v) for ts, v in values.items()}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_victoria_metrics_write_and_read_back(
    victoria: VictoriaMetrics, tmp_path: Path, api: str
) -> None:
    settings = quick(victoria.url, api=api, org="plog", bucket="plog", token="t", batch_size=8)
    sink = InfluxSink(settings, tmp_path)
    sent = points(6)
    assert sink.write(TAGS, sent).written == 18
    assert sink.write(TAGS, sent).written == 18  # a retry of everything
    counts = _series(victoria, "count")
    assert set(counts) == set(OPS)
    for op in OPS:
        assert counts[op] == {p.second: float(p.count) for p in sent if p.operation == op}
    p95 = _series(victoria, "p95")
    assert math.isclose(p95["POST /pets"][BASE + 5], 20.0 + 2 + 5 / 8)


@pytest.mark.slow
def test_victoria_metrics_outage_spools_and_backfills_v2(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    settings = quick(victoria.url, api="v2", org="plog", bucket="plog", token="t", batch_size=6)
    sink = InfluxSink(settings, tmp_path)
    sent = points(8)

    def stream() -> Iterator[SeriesPoint]:
        for i, p in enumerate(sent):
            if i == 13:
                victoria.stop()
            yield p

    report = sink.write(TAGS, stream())
    assert (report.written, report.spooled) == (12, 12)
    victoria.start()
    assert sink.backfill().backfilled == 12
    counts = _series(victoria, "count")
    for op in OPS:
        assert counts[op] == {p.second: float(p.count) for p in sent if p.operation == op}
