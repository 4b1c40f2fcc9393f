"""The duet probe's pieces: its k6 script (checked by the real k6), pairing and summary."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.duet_probe import Outcome, _paired, script, summarise
from tests.loadgen.helpers import k6_inspect


@pytest.mark.parametrize(
    ("targets", "scenarios"),
    [
        (None, {"pets"}),
        ({"base": "http://127.0.0.1:1", "head": "http://127.0.0.1:2"}, {"base", "head"}),
    ],
)
def test_script_has_one_scenario_per_target(
    tmp_path: Path, targets: dict[str, str] | None, scenarios: set[str]
) -> None:
    text = script(100, 1.5, tuple(sorted(scenarios))).text
    env = ["BASE_URL=http://127.0.0.1:1"]
    if targets is not None:
        env.append(f"PLOG_PROBE_TARGETS={json.dumps(targets)}")
    done = k6_inspect(text, tmp_path, *env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["scenarios"]
    assert set(found) == scenarios
    for scenario in found.values():
        assert scenario["rate"] == 100 and scenario["duration"] == "1.5s"


def test_pairs_the_nth_seconds_and_needs_three() -> None:
    base = [0.0, 1.0, 2.0, 3.0]
    head = [0.1, 1.1, 2.1]  # one push fewer: the extra base second is left out
    mean, corr = _paired(base, head)
    assert mean == pytest.approx(0.1)
    assert corr == pytest.approx(1.0)
    assert _paired([1.0, 2.0], [1.0, 2.0]) == (None, None)


def test_summary_counts_big_deltas_per_design() -> None:
    outcomes = [
        Outcome("interleaved", math.log(1.02)),
        Outcome("interleaved", math.log(0.97)),
        Outcome("duet-1k6", math.log(1.25), 0.2, 0.9),
        Outcome("duet-1k6", math.log(1.01), 0.0, 0.7),
    ]
    lines = summarise(outcomes)
    assert len(lines) == 3  # header, and the two designs that ran
    interleaved = lines[1].split()
    assert interleaved[:2] == ["interleaved", "2"] and interleaved[4] == "0"
    duet = lines[2].split()
    assert duet[3] == "+25.0%" and duet[4] == "1" and duet[5] == "+0.80"


def test_summary_splits_quiet_and_hog_when_a_trial_ran_beside_the_hog() -> None:
    outcomes = [
        Outcome("duet-1k6", math.log(1.01)),
        Outcome("duet-1k6", math.log(1.30), hog=True),
    ]
    rows = [line.split() for line in summarise(outcomes)[1:]]
    assert [r[:3] for r in rows] == [
        ["duet-1k6", "quiet", "1"],
        ["duet-1k6", "hog", "1"],
        ["duet-1k6", "2", rows[2][2]],
    ]
    assert rows[1][4] == "+30.0%" and rows[1][5] == "1"  # worst delta, count beyond 10%
    assert rows[2][2] == f"{abs(math.log(1.30) - math.log(1.01)) / math.sqrt(2) * 100:.1f}%"
