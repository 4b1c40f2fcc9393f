"""Arrival rates k6 accepts: whole requests per timeUnit (issue 17 realism bench:
``load.rate: 0.5`` passed validation and k6 refused the script)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plog_ci.config.model import LoadConfig, Stage
from plog_ci.loadgen.profiles import time_unit
from plog_ci.loadgen.script import generate
from testing.k6_tools import k6_inspect, script_options
from testing.paths import EXAMPLE
from testing.specs import load_any_spec


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ([5.0], (1.0, "1s")),
        ([0.5], (60.0, "1m")),
        ([0.25, 2.0], (60.0, "1m")),
        ([1 / 7], (1000.0, "1000s")),
    ],
)
def test_the_time_unit_makes_every_rate_whole(
    rates: list[float], expected: tuple[float, str]
) -> None:
    assert time_unit(rates) == expected


@pytest.mark.parametrize(
    "load",
    [
        LoadConfig(rate=0.5, duration_s=4.0),
        LoadConfig(profile="stress", rate=0.75, duration_s=8.0),
        LoadConfig(stages=(Stage(2.0, 0.5), Stage(2.0, 1.5)), duration_s=4.0),
    ],
    ids=["constant", "ramping", "stages"],
)
def test_a_fractional_rate_gives_a_script_k6_accepts(load: LoadConfig, tmp_path: Path) -> None:
    spec = load_any_spec(EXAMPLE / "openapi.yaml")
    script = generate(spec, [spec.operations["GET /pets"]], load)
    (scenario,) = script_options(script.text)["scenarios"].values()
    numbers = [scenario.get("rate"), scenario.get("startRate")]
    numbers += [s["target"] for s in scenario.get("stages", [])]
    assert all(isinstance(n, int) for n in numbers if n is not None), scenario
    assert scenario["timeUnit"] == "1m"
    result = k6_inspect(script.text, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
