"""Export of a finished run to InfluxDB: plog.yml's influx section, the pipeline hook,
and the points read back from a real influxd."""

from __future__ import annotations

from pathlib import Path

import pytest

from plog_ci.config import parse_config
from plog_ci.config.model import InfluxConfig
from plog_ci.pipeline import RunRequest, run
from plog_ci.results import OperationStats, SeriesPoint
from plog_ci.store.influx_export import export_run, run_points, settings_from_config
from plog_ci.store.sqlite import open_store
from testing.influx_servers import InfluxServer, free_port
from testing.repos import FAST_PLOG_YML, commit_files

BASE_YML = "version: 1\nservice: {run: ./serve}\nopenapi: openapi.yaml\n"


def test_influx_section_parses_with_defaults_and_env_names() -> None:
    config = parse_config(BASE_YML + "influx:\n  url: http://127.0.0.1:8086\n")
    assert config.influx == InfluxConfig(url="http://127.0.0.1:8086")
    config = parse_config(
        BASE_YML + "influx:\n  url: https://influx.example:8086\n  api: v2\n  org: perf\n"
        "  bucket: ci\n  token_env: INFLUX_TOKEN\n  timeout: 2s\n  batch_size: 100\n"
        "  retries: 0\n  measurement: api_latency\n"
    )
    influx = config.influx
    assert influx is not None and influx.api == "v2" and influx.timeout_s == 2.0
    settings = settings_from_config(influx, {"INFLUX_TOKEN": "t0ken"})
    assert settings.token == "t0ken" and settings.bucket == "ci" and settings.batch_size == 100
    assert "t0ken" not in repr(settings)
    assert parse_config(BASE_YML).influx is None


def _store_with_run(home: Path, series: bool) -> tuple[object, int]:
    store = open_store(home)
    run_id = store.start_run(
        repo="/work/shop",
        commit_sha="a" * 40,
        parent=None,
        base_sha=None,
        branch="main",
        profile="smoke",
        config_hash="c",
        spec_hash="s",
        environment={},
    )
    stats = OperationStats("GET /pets", 40, 1, 20.0, 1.0, 3.0, 2.5, 4.0, 5.0, 7.0, 9.0)
    store.save_stats(run_id, "script", {"GET /pets": stats})
    if series:
        store.save_series(
            run_id,
            [
                SeriesPoint(
                    "GET /pets",
                    1_700_000_000 + s,
                    20,
                    s,
                    p50=2.5,
                    p90=4.0,
                    p95=5.0,
                    p99=7.0,
                    max=9.0,
                )
                for s in range(2)
            ],
        )
    store.finish_run(run_id, "pass", {"status": "pass"}, None)
    return store, run_id


def test_points_are_the_series_or_one_summary_point_at_the_end(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path / "a", series=True)
    points = run_points(store, store.get_run(run_id))  # type: ignore[attr-defined]
    assert [(p.second, p.count, p.failures) for p in points] == [
        (1_700_000_000, 20, 0),
        (1_700_000_001, 20, 1),
    ]
    store, run_id = _store_with_run(tmp_path / "b", series=False)
    record = store.get_run(run_id)  # type: ignore[attr-defined]
    points = run_points(store, record)  # type: ignore[arg-type]
    assert len(points) == 1 and points[0].second == int(record.finished_at)
    assert points[0].p95 == 5.0 and points[0].count == 40
    assert run_points(store, record) == points  # deterministic  # type: ignore[arg-type]


def test_no_sink_configured_and_a_dead_sink_never_raise(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path / "h", series=False)
    assert export_run(store, run_id, parse_config(BASE_YML), tmp_path) is None  # type: ignore[arg-type]
    dead = parse_config(
        BASE_YML + f"influx:\n  url: http://127.0.0.1:{free_port()}\n  retries: 0\n"
        "  token_env: PLOG_TEST_UNSET_TOKEN\n"
    )
    report = export_run(store, run_id, dead, tmp_path)  # type: ignore[arg-type]
    assert report is not None and report.written == 0 and report.spooled == 1
    assert any("PLOG_TEST_UNSET_TOKEN is not set" in w for w in report.warnings)
    assert list((tmp_path / "spool" / "influx").glob("*.lp"))
    # An unknown run is a warning too, not an exception.
    report = export_run(store, 999, dead, tmp_path)  # type: ignore[arg-type]
    assert report is not None and any("export of run #999 failed" in w for w in report.warnings)


@pytest.mark.slow
def test_plog_run_exports_to_a_real_influxd(
    influx: InfluxServer, petstore_repo: Path, plog_home: Path
) -> None:
    influx.create_db("perf")
    yml = FAST_PLOG_YML + (
        f"influx:\n  url: {influx.url}\n  database: perf\n  measurement: plog_ci\n"
    )
    commit_files(petstore_repo, {"plog.yml": yml}, "export to influx")
    outcome = run(RunRequest(repo=petstore_repo, head="HEAD", branch="main"))
    assert outcome.status == "pass", outcome.summary
    store = open_store(plog_home)
    record = store.get_run(outcome.run_id or 0)
    stats = store.operation_stats(record.id)
    rows = influx.query("SELECT * FROM plog_ci GROUP BY *", db="perf")
    assert {r["operation"] for r in rows} == set(stats)
    for r in rows:
        assert r["time"] == int(record.finished_at or 0)
        assert r["run_id"] == str(record.id) and r["commit"] == record.commit_sha
        assert r["branch"] == "main" and r["repo"] == "petstore"
        s = stats[str(r["operation"])]
        assert r["count"] == s.count and r["p95"] == pytest.approx(s.p95)
    # Exporting the same run again overwrites: no duplicate points.
    config = parse_config(yml)
    report = export_run(store, record.id, config, plog_home)
    assert report is not None and report.written == len(stats) and not report.warnings
    assert len(influx.query("SELECT * FROM plog_ci GROUP BY *", db="perf")) == len(rows)
    store.close()
