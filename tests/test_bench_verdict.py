"""The verdict-quality benchmark's bookkeeping: the table, and resuming a long run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench.verdict_quality import (
    Trial,
    _resumed,
    _write_json,
    beside_hog,
    main,
    normal_ms,
    render,
    summarise,
)


def trial(mode: str, scenario: str, index: int, verdict: str, block_p95: str = "-") -> Trial:
    return Trial(
        mode, scenario, index, index % 2 == 1, "pass", verdict, 12.0, "", 1.0, verdict, block_p95
    )


def args(tmp_path: Path, **overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "trials": 4,
        "duration": "30s",
        "blocks": 20,
        "rate": 40,
        "modes": "interleaved,sequential",
        "normal_ms": 4.2,
        "normal_ms_hog": 9.1,
        "normal_ms_duet": 0.0,
        "normal_ms_duet_hog": 0.0,
        "normal_ms_interleaved": 3.1,
        "normal_ms_interleaved_hog": 5.2,
        "turn": "",
        "slowdown": "sleep",
        "json": tmp_path / "vq.json",
        "resume": True,
        "home": None,
        "max_minutes": 0.0,
        "replicas": 1,
        "hog": "alternate",
    }
    values.update(overrides)
    return argparse.Namespace(**values)


TRIALS = [
    trial("interleaved", "+25%", 0, "regression", "regression"),
    trial("interleaved", "+25%", 1, "pass", "regression"),
    trial("interleaved", "A/A", 0, "pass", "pass"),
    trial("sequential", "+25%", 0, "no-verdict"),
]


def test_table_counts_each_cell_and_the_diagnostics() -> None:
    rows = {(r["mode"], r["scenario"], r["cpu_hog"]): r for r in summarise(TRIALS)}
    cell = rows["interleaved", "+25%", "all"]
    assert (cell["trials"], cell["regressions"], cell["block_p95_regressions"]) == (2, 1, 2)
    assert rows["interleaved", "+25%", "yes"]["regressions"] == 0
    assert rows["sequential", "+25%", "all"]["no_verdict"] == 1
    assert rows["sequential", "+25%", "all"]["block_p95_regressions"] is None
    text = render(summarise(TRIALS))
    assert "p95 per-block" in text and "50%" in text


def test_resume_keeps_trials_measured_alike(tmp_path: Path) -> None:
    first = args(tmp_path)
    _write_json(first, TRIALS, done=False)
    again = args(tmp_path, normal_ms=0.0, normal_ms_hog=0.0)
    assert _resumed(again) == TRIALS
    assert (again.normal_ms, again.normal_ms_hog) == (4.2, 9.1)  # taken from the file
    assert json.loads(first.json.read_text())["complete"] is False


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    _write_json(args(tmp_path), TRIALS, done=False)
    with pytest.raises(SystemExit, match="other settings \\(duration, rate\\)"):
        _resumed(args(tmp_path, duration="8s", rate=80))


def test_duet_slowdowns_are_a_share_of_the_duet_time_and_old_files_resume(
    tmp_path: Path,
) -> None:
    # A file from before the duet has no duet calibration: it still resumes, and the
    # duet's normal time is measured (or given) separately.
    first = args(tmp_path)
    _write_json(first, TRIALS, done=False)
    data = json.loads(first.json.read_text())
    for key in ("normal_ms_duet", "normal_ms_duet_hog"):
        del data["settings"][key]
    first.json.write_text(json.dumps(data))
    again = args(tmp_path, normal_ms_duet=6.3, normal_ms_duet_hog=14.0)
    with pytest.raises(SystemExit, match="normal_ms_duet, normal_ms_duet_hog"):
        _resumed(again)  # a file without duet settings resumes only without them
    plain = args(tmp_path)
    assert _resumed(plain) == TRIALS
    assert normal_ms(again, "duet", False) == 6.3 and normal_ms(again, "duet", True) == 14.0
    assert (
        normal_ms(again, "interleaved", True) == 5.2
        and normal_ms(again, "sequential", False) == 4.2
    )


def test_interleaved_slowdowns_of_old_files_stay_shares_of_single_runs(tmp_path: Path) -> None:
    # Files from before interleaving had its own calibration used the single-run
    # p95s for its slowdowns: resuming one keeps doing so, and refuses other values.
    first = args(tmp_path, normal_ms_interleaved=4.2, normal_ms_interleaved_hog=9.1)
    _write_json(first, TRIALS, done=False)
    data = json.loads(first.json.read_text())
    for key in ("normal_ms_interleaved", "normal_ms_interleaved_hog", "turn"):
        del data["settings"][key]
    first.json.write_text(json.dumps(data))
    again = args(tmp_path, normal_ms_interleaved=0.0, normal_ms_interleaved_hog=0.0)
    assert _resumed(again) == TRIALS
    assert (normal_ms(again, "interleaved", False), normal_ms(again, "interleaved", True)) == (
        4.2,
        9.1,
    )
    with pytest.raises(SystemExit, match="normal_ms_interleaved, normal_ms_interleaved_hog"):
        _resumed(args(tmp_path))  # 3.1 and 5.2 are not what those trials used
    with pytest.raises(SystemExit, match="turn"):
        _resumed(args(tmp_path, normal_ms_interleaved=0.0, turn="250ms"))
    with pytest.raises(SystemExit, match="slowdown"):
        _resumed(args(tmp_path, normal_ms_interleaved=0.0, slowdown="cpu"))


def test_without_resume_or_file_nothing_is_kept(tmp_path: Path) -> None:
    assert _resumed(args(tmp_path)) == []  # no file yet
    _write_json(args(tmp_path), TRIALS, done=False)
    assert _resumed(args(tmp_path, resume=False)) == []


def test_help_prints_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    # The scenario names hold "%", which argparse reads as a format directive.
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "+25%, +10%, A/A" in out
    assert "--slowdown" in out


def test_hog_policy_picks_the_trials_and_must_match_to_resume(tmp_path: Path) -> None:
    assert [beside_hog(i, "alternate") for i in range(4)] == [False, True, False, True]
    assert all(beside_hog(i, "always") for i in range(4))
    assert not any(beside_hog(i, "never") for i in range(4))
    first = args(tmp_path)
    _write_json(first, TRIALS, done=False)
    data = json.loads(first.json.read_text())
    del data["settings"]["hog"]  # files from before --hog alternated
    first.json.write_text(json.dumps(data))
    assert _resumed(args(tmp_path)) == TRIALS
    with pytest.raises(SystemExit, match="hog"):
        _resumed(args(tmp_path, hog="always"))
