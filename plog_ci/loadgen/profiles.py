"""Load profiles → k6 scenarios.

Open model (arrival-rate executors) by default: new requests start on
schedule whether or not the server kept up, so a slow server shows its
slowness instead of hiding it (coordinated omission). ``rate`` and stage
targets are requests per second *per operation*; each operation gets its own
scenario so its rate does not depend on the others' latency.

| profile    | open model (default)                                      |
| ---------- | --------------------------------------------------------- |
| smoke      | constant-arrival-rate, 1/s                                |
| load       | constant-arrival-rate at ``rate``                         |
| soak       | constant-arrival-rate at ``rate`` (meant for long runs)   |
| stress     | ramping-arrival-rate up to 2 × ``rate``, held, ramp down  |
| spike      | ramping-arrival-rate: ``rate``, a jump to 5 ×, back       |
| breakpoint | ramping-arrival-rate from 1/s to the rate cap; aborts on  |
|            | the first failed gate threshold                           |

Without ``rate`` the open model runs 10 requests per second per operation
(1/s for smoke). ``load.stages`` replaces the profile's shape. The closed
model (``model: closed``) runs ``constant-vus`` / ``ramping-vus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plog_ci.config.durations import format_duration
from plog_ci.config.model import HARD_MAX_DURATION_S, LoadConfig, Stage
from plog_ci.errors import ConfigError

DEFAULT_RATE = 10.0
GRACEFUL_STOP_S = 5.0
# Shapes as (fraction of the duration, multiple of the rate).
_SHAPES: dict[str, tuple[tuple[float, float], ...]] = {
    "stress": ((0.2, 1.0), (0.3, 2.0), (0.4, 2.0), (0.1, 0.0)),
    "spike": ((0.2, 1.0), (0.05, 5.0), (0.15, 5.0), (0.05, 1.0), (0.55, 1.0)),
}


@dataclass(frozen=True)
class Plan:
    scenarios: dict[str, Any]
    model: str
    duration_s: float
    peak_rate: float  # all operations together, requests per second
    max_vus: int


def _model(load: LoadConfig) -> str:
    if load.model:
        return load.model
    return "open"  # without a rate: 10/s per operation (1/s for smoke)


def _stages(load: LoadConfig, rate: float, count: int) -> tuple[float, list[Stage]]:
    """Start rate and stages for the ramping profiles."""
    if load.stages:
        return 0.0, list(load.stages)
    if load.profile == "breakpoint":
        return 1.0, [Stage(load.duration_s, max(1.0, load.caps.rate / count))]
    shape = _SHAPES[load.profile]
    return rate, [Stage(load.duration_s * frac, rate * mult) for frac, mult in shape]


def _k6_stages(stages: list[Stage], factor: float = 1.0) -> list[dict[str, Any]]:
    return [
        {"duration": format_duration(s.duration_s), "target": _int(round(s.target * factor, 9))}
        for s in stages
    ]


def time_unit(rates: list[float]) -> tuple[float, str]:
    """The factor and k6 ``timeUnit`` that make every arrival rate a whole number: k6's
    rates are integers per ``timeUnit`` ("rate: 0.5" is refused), so 0.5/s is 1 per 2s.
    ``rates`` are per second; 1s when they are whole, else 1m, else per 1000 s (rounded
    to 1/1000 of a request per second)."""
    for factor, unit in ((1.0, "1s"), (60.0, "1m")):
        if all(abs(r * factor - round(r * factor)) < 1e-9 for r in rates):
            return factor, unit
    return 1000.0, "1000s"


def _int(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def scenarios(load: LoadConfig, count: int) -> Plan:
    """k6 scenarios for ``count`` operations (``exec`` = runOperation, PLOG_OP = index)."""
    count = max(count, 1)
    model = _model(load)
    caps = load.caps
    if model == "closed":
        vus = 1 if load.profile == "smoke" else load.vus
        if vus > caps.vus:
            raise ConfigError(f"load.vus: {vus} is over the cap of {caps.vus}")
        if load.stages:
            shape: dict[str, Any] = {
                "executor": "ramping-vus",
                "startVUs": 0,
                "stages": _k6_stages(list(load.stages)),
            }
            duration = sum(s.duration_s for s in load.stages)
            vus = max(int(max(s.target for s in load.stages)), 1)
        else:
            shape = {
                "executor": "constant-vus",
                "vus": vus,
                "duration": format_duration(load.duration_s),
            }
            duration = load.duration_s
        shape.update(exec="runAll", gracefulStop=format_duration(GRACEFUL_STOP_S))
        _check(caps.vus, vus, "VUs")
        _check_duration(load, duration)
        return Plan({"all": shape}, model, duration, 0.0, vus)

    rate = (
        load.rate if load.rate is not None else (1.0 if load.profile == "smoke" else DEFAULT_RATE)
    )
    if load.profile == "smoke" and load.rate is None:
        rate = 1.0
    # VUs per operation: enough for the rate at ~1 s latency, within the cap.
    per_op_max = max(1, caps.vus // count)
    pre = max(1, min(load.vus, per_op_max))
    if load.profile in ("smoke", "load", "soak") and not load.stages:
        factor, unit = time_unit([rate])
        base: dict[str, Any] = {
            "executor": "constant-arrival-rate",
            "rate": _int(round(rate * factor)),
            "timeUnit": unit,
            "duration": format_duration(load.duration_s),
        }
        duration = load.duration_s
        peak = rate
    else:
        start, stages = _stages(load, rate, count)
        factor, unit = time_unit([start, *(s.target for s in stages)])
        base = {
            "executor": "ramping-arrival-rate",
            "startRate": _int(round(start * factor)),
            "timeUnit": unit,
            "stages": _k6_stages(stages, factor),
        }
        duration = sum(s.duration_s for s in stages)
        peak = max([start, *(s.target for s in stages)])
    max_vus = max(pre, min(per_op_max, max(4 * load.vus, int(peak) + 1)))
    base.update(preAllocatedVUs=pre, maxVUs=max_vus, gracefulStop=format_duration(GRACEFUL_STOP_S))
    _check(caps.rate, peak * count, "requests per second (all operations)")
    _check_duration(load, duration)
    out = {}
    for index in range(count):
        scenario = dict(base)
        scenario.update(exec="runOperation", env={"PLOG_OP": str(index)})
        out[f"op{index}"] = scenario
    return Plan(out, model, duration, peak * count, max_vus * count)


def _check(cap: float, value: float, what: str) -> None:
    if value > cap:
        raise ConfigError(
            f"load: {value:g} {what} is over the cap of {cap:g}",
            hint="lower the load or raise load.caps in plog.yml",
        )


def _check_duration(load: LoadConfig, duration: float) -> None:
    """``duration`` is the test's length however it was written (load.duration, the
    profile's shape, or the sum of load.stages); caps.duration never exceeds the hard cap."""
    cap = min(load.caps.duration_s, HARD_MAX_DURATION_S)
    if duration > cap:
        raise ConfigError(
            f"load: the test lasts {duration:g}s, over the cap of {cap:g}s",
            hint="shorten it or raise load.caps.duration in plog.yml (at most 6h)",
        )
