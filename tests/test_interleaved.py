"""Interleaving inside one k6 process: a schedule of blocks, read back per side and round."""

from __future__ import annotations

from pathlib import Path

import pytest

from plog_ci.ab.interleaved import interleaved_rounds, round_order, run_scheduled
from plog_ci.config.model import LoadConfig
from plog_ci.errors import InternalError
from plog_ci.loadgen.script import Schedule, generate
from plog_ci.runner.histogram import Histogram
from testing.k6_tools import need_k6, script_options
from testing.paths import ROOT
from testing.servers import recording_server
from testing.specs import load_any_spec

SPEC = ROOT / "examples/petstore/openapi.yaml"


def test_round_order_is_seeded_and_balanced() -> None:
    order = round_order(200, seed=7)
    assert order == round_order(200, seed=7) != round_order(200, seed=8)
    assert all(sorted(pair) == ["base", "head"] for pair in order)
    first_base = sum(1 for pair in order if pair[0] == "base")
    assert 70 < first_base < 130  # drawn, not alternating


@pytest.mark.slow
def test_one_process_loads_the_sides_in_turns_and_reads_each_block(tmp_path: Path) -> None:
    need_k6()
    spec = load_any_spec(SPEC)
    ops = [spec.operations["GET /pets"], spec.operations["POST /pets"]]
    slots = ("head", "base", "base", "head")  # two rounds of 1 s blocks
    schedule = Schedule(slots, on_base=("GET /pets",))  # POST /pets is new in the head
    script = generate(spec, ops, LoadConfig(rate=20, duration_s=4, vus=4), schedule=schedule)
    assert script.block_s == 1.0 and script.slots == slots
    with recording_server() as (base_url, base), recording_server() as (head_url, head):
        result = run_scheduled(
            script, {"base": base_url, "head": head_url}, tmp_path / "k6", timeout_s=60
        )
    assert result.order == (("head", "base"), ("base", "head"))
    for side, rec in (("base", base), ("head", head)):
        blocks = result.blocks[side]
        assert len(blocks) == 2
        gets = [b.operations["GET /pets"].count for b in blocks]
        # 20/s for each 1-second block of this side (the edges may shift one request).
        assert all(17 <= n <= 23 for n in gets), (side, gets)
        posts = sum(b.operations["POST /pets"].count for b in blocks)
        assert posts == (0 if side == "base" else sum(1 for r in rec.requests if r[0] == "POST"))
        # Each server saw exactly the requests its side's blocks counted.
        assert len(rec.requests) == sum(b.total.count for b in blocks)
        for b in blocks:
            hist = Histogram.from_dict(b.histograms["GET /pets"])
            assert hist.count == b.operations["GET /pets"].count and b.duration_s == 1.0


@pytest.mark.slow
def test_short_turns_alternate_the_sides_inside_each_round(tmp_path: Path) -> None:
    need_k6()
    spec = load_any_spec(SPEC)
    # load.duration 1s in compare.blocks 2 of compare.turn 0.5s: the 1-s minimum per
    # block stretches the load to 4 s, and the line says so with the numbers that run.
    rounds = interleaved_rounds(1.0, 2, 0.5)
    assert (rounds.count, rounds.block_s, rounds.turns, rounds.total_s) == (2, 1.0, 2, 4.0)
    assert rounds.stretch_line() == (
        "interleaved: 2 rounds of at least 1 s per side: the load runs 4 s "
        "(load.duration 1s); lower compare.blocks or raise load.duration to change it"
    )
    # Two rounds of four 0.5-s turns: each side's block in a round is its two turns.
    slots = ("head", "base", "head", "base", "base", "head", "head", "base")
    schedule = Schedule(slots, on_base=("GET /pets",), per_round=2 * rounds.turns)
    ops = [spec.operations["GET /pets"]]
    load = LoadConfig(rate=20, duration_s=rounds.total_s, vus=4)
    script = generate(spec, ops, load, schedule=schedule)
    assert script.block_s == 1.0 and script.per_round == 4
    assert '"turnMs": 500' in script.text and '"perRound": 4' in script.text
    with recording_server() as (base_url, base), recording_server() as (head_url, head):
        result = run_scheduled(
            script, {"base": base_url, "head": head_url}, tmp_path / "k6", timeout_s=60
        )
    assert result.order == (("head", "base"), ("base", "head"))
    for side, rec in (("base", base), ("head", head)):
        counts = [b.operations["GET /pets"].count for b in result.blocks[side]]
        assert len(counts) == 2 and all(17 <= n <= 23 for n in counts), (side, counts)
        assert len(rec.requests) == sum(counts)
        assert all(b.duration_s == 1.0 for b in result.blocks[side])
    # The servers saw the sides change at every turn boundary the slots have: 6 runs
    # (head, base, head, base | head, base), not the 3 of whole blocks.
    arrivals = sorted([(t, "base") for t in base.times] + [(t, "head") for t in head.times])
    runs = [s for i, (_, s) in enumerate(arrivals) if i == 0 or arrivals[i - 1][1] != s]
    assert runs == ["head", "base", "head", "base", "head", "base"], runs
    # The load ran the 4 s the line announced (the first request near 0 s, the last near 4).
    assert 3.0 < arrivals[-1][0] - arrivals[0][0] < 4.5, arrivals[-1][0] - arrivals[0][0]


@pytest.mark.slow
@pytest.mark.parametrize("broken", ["head", "base"])
def test_only_a_broken_head_aborts_the_run(tmp_path: Path, broken: str) -> None:
    # One k6 process loads both sides: its abort line (errors above 50%) watches the
    # head alone. A healthy base would otherwise hold a broken head's rate at 50%, on
    # the line, and a broken base would cut the head's measurement short.
    need_k6()
    spec = load_any_spec(SPEC)
    slots = ("head", "base") * 8  # eight rounds of 1-s blocks
    schedule = Schedule(slots, on_base=("GET /pets",))
    ops = [spec.operations["GET /pets"]]
    script = generate(spec, ops, LoadConfig(rate=20, duration_s=16, vus=4), schedule=schedule)
    assert set(script_options(script.text)["thresholds"]) == {"http_req_failed{plog_side:head}"}
    status = {side: 500 if side == broken else 200 for side in ("base", "head")}
    with (
        recording_server(status=status["base"]) as (base_url, _base),
        recording_server(status=status["head"]) as (head_url, head),
    ):
        result = run_scheduled(
            script, {"base": base_url, "head": head_url}, tmp_path / "k6", timeout_s=60
        )
    codes = {b.k6_exit_code for side in ("base", "head") for b in result.blocks[side]}
    span = max(head.times) - min(head.times)
    if broken == "head":
        assert codes == {99}  # the threshold crossed...
        assert span < 12, span  # ...and stopped the test: 5 s before judging, not 16
        assert "stopping test prematurely" in (tmp_path / "k6" / "k6.log").read_text()
    else:
        assert codes == {0}
        assert span > 14, span  # the head was measured the whole 16 s
        assert all(b.total.count > 0 for b in result.blocks["head"])


def test_the_schedule_says_when_the_blocks_minimum_stretches_the_load() -> None:
    # The field case: load.duration 5s with 20 blocks ran 40 s of load, silently.
    short = interleaved_rounds(5.0, 20, 0.25)
    assert (short.count, short.block_s, short.turns, short.total_s) == (20, 1.0, 4, 40.0)
    assert short.stretch_line() == (
        "interleaved: 20 rounds of at least 1 s per side: the load runs 40 s "
        "(load.duration 5s); lower compare.blocks or raise load.duration to change it"
    )
    # Twice load.duration when each block gets at least 1 s: nothing to say.
    for duration, blocks in ((20.0, 20), (60.0, 20), (5.0, 5)):
        rounds = interleaved_rounds(duration, blocks, 0.25)
        assert rounds.total_s == 2 * duration and rounds.stretch_line() is None
    # Blocks as long as the turn, or no turns: one turn per block.
    assert interleaved_rounds(10.0, 10, None).turns == interleaved_rounds(2.0, 2, 1.0).turns == 1
    odd = interleaved_rounds(2.5, 4, 0.25)
    assert odd.total_s == 8.0
    line = odd.stretch_line()
    assert line is not None and "runs 8 s (load.duration 2.5s)" in line


def test_a_schedule_needs_whole_pairs_of_turns_per_round() -> None:
    with pytest.raises(InternalError, match="even number of turns"):
        Schedule(("head", "base", "base"), on_base=(), per_round=3)
    with pytest.raises(InternalError, match="even number of turns"):
        Schedule(("head", "base", "base", "head", "head", "base"), on_base=(), per_round=4)


def test_a_plain_script_is_refused(tmp_path: Path) -> None:
    spec = load_any_spec(SPEC)
    plain = generate(spec, [spec.operations["GET /pets"]], LoadConfig(rate=1, duration_s=1))
    with pytest.raises(InternalError, match="schedule"):
        run_scheduled(plain, {"base": "x", "head": "y"}, tmp_path, timeout_s=5)
    with pytest.raises(InternalError, match="at least one block"):
        generate(
            spec,
            [spec.operations["GET /pets"]],
            LoadConfig(rate=1, duration_s=1),
            schedule=Schedule((), on_base=()),
        )
