"""plog.yml's ``compare.length``, ``compare.max_duration`` and ``compare.beta`` (issue
22): how long an interleaved comparison runs and when it calls a gate held, checked
beyond the schema against the mode and the load's duration and caps."""

from __future__ import annotations

import math
from typing import Any

from plog_ci.config.durations import format_duration, parse_duration
from plog_ci.config.problems import Problems

# compare.max_duration when unset: four times the planned length (load.duration).
DEFAULT_FACTOR = 4.0
# Interleaved blocks shorter than this measure mostly warm-up (ab.interleaved).
MIN_BLOCK_S = 1.0
# No sequential decision before this many rounds (analysis.sequential, which says why):
# a max_duration that holds fewer could never decide anything.
MIN_ROUNDS = 8


def adaptive_rounds(blocks: int, block_s: float, longest_s: float) -> int:
    """The rounds an adaptive run plans: as many ``block_s`` rounds as ``longest_s``
    (compare.max_duration) holds, never fewer than the fixed run's ``blocks``."""
    return max(blocks, math.floor(longest_s / block_s + 1e-9))


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
                    f"add 'length: adaptive' under compare, or remove {key}"
                    if mode == "interleaved"
                    else f"remove {key}: adaptive needs mode interleaved (mode is {mode})",
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
        longest = min(DEFAULT_FACTOR * duration_s, cap_s)
        _check_rounds(raw, duration_s, longest, problems)
        return {"length": length, "max_duration_s": longest, **beta}
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
    else:
        _check_rounds(raw, duration_s, longest, problems)
    return {"length": length, "max_duration_s": longest, **beta}


def _check_rounds(
    raw: dict[str, Any], duration_s: float, longest: float, problems: Problems
) -> None:
    """A problem when ``longest`` seconds per side hold fewer rounds than a decision
    needs: the test would run to no verdict whatever it measured. The rounds keep the
    fixed run's block (load.duration / compare.blocks, at least MIN_BLOCK_S)."""
    blocks = raw.get("blocks", 20)
    if not isinstance(blocks, int) or blocks < 1 or duration_s <= 0:
        return  # the schema or load.duration reports it
    block_s = max(MIN_BLOCK_S, duration_s / blocks)
    rounds = adaptive_rounds(blocks, block_s, longest)
    if rounds >= MIN_ROUNDS:
        return
    written = "max_duration" in raw
    what = repr(str(raw["max_duration"])) if written else f"max_duration {format_duration(longest)}"
    problems.add(
        ["compare", "max_duration" if written else "length"],
        f"{what} holds {rounds} rounds of {block_s:g} s per side; an adaptive test "
        f"decides nothing before {MIN_ROUNDS}",
        f"use max_duration: {format_duration(MIN_ROUNDS * block_s)} or more "
        "(or more compare.blocks for shorter rounds)",
    )
