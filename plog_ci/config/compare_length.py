"""plog.yml's ``compare.length``, ``compare.max_duration`` and ``compare.beta`` (issue
22): how long an interleaved comparison runs and when it calls a gate held, checked
beyond the schema against the mode and the load's duration and caps."""

from __future__ import annotations

from typing import Any

from plog_ci.config.durations import format_duration, parse_duration
from plog_ci.config.problems import Problems

# compare.max_duration when unset: four times the planned length (load.duration).
DEFAULT_FACTOR = 4.0


def parse_compare_length(
    raw: dict[str, Any], duration_s: float, cap_s: float, problems: Problems
) -> dict[str, Any]:
    """CompareConfig fields ``length`` ("fixed" | "adaptive"), ``max_duration_s``
    (seconds per side; None with length fixed) and ``beta`` (when given).
    ``duration_s``: load.duration; ``cap_s``: load.caps.duration. Problems are added
    at the key that holds them."""
    length = str(raw.get("length", "fixed"))
    mode = str(raw.get("mode", "interleaved"))
    if length != "adaptive":
        for key in ("max_duration", "beta"):
            if key in raw:
                problems.add(
                    ["compare", key],
                    "only an adaptive comparison uses it (compare.length is fixed)",
                    f"add 'length: adaptive' under compare, or remove {key}",
                )
        return {"length": length, "max_duration_s": None}
    beta = {"beta": float(raw["beta"])} if isinstance(raw.get("beta"), int | float) else {}
    if mode != "interleaved":
        problems.add(
            ["compare", "length"],
            f"adaptive needs compare.mode interleaved (mode is {mode}): only interleaved "
            "rounds give a paired sample after each round",
            "set 'mode: interleaved', or 'length: fixed'",
        )
    if "max_duration" not in raw:
        # The default never breaks the cap: it is cut to it.
        return {
            "length": length,
            "max_duration_s": min(DEFAULT_FACTOR * duration_s, cap_s),
            **beta,
        }
    try:
        longest = parse_duration(str(raw["max_duration"]))
    except ValueError as exc:
        problems.add(["compare", "max_duration"], str(exc))
        return {"length": length, "max_duration_s": None, **beta}
    written = repr(str(raw["max_duration"]))
    if longest < duration_s:
        problems.add(
            ["compare", "max_duration"],
            f"{written} is shorter than load.duration ({format_duration(duration_s)}), "
            "the length an adaptive test plans for",
            f"use at least {format_duration(duration_s)}, e.g. "
            f"{format_duration(DEFAULT_FACTOR * duration_s)}",
        )
    elif longest > cap_s:
        problems.add(
            ["compare", "max_duration"],
            f"{written} is over load.caps.duration ({format_duration(cap_s)})",
            "shorten it or raise load.caps.duration",
        )
    return {"length": length, "max_duration_s": longest, **beta}
