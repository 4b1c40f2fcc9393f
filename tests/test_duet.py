"""Duet runs: one real k6 process loading two real servers at once, split by side."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from plog_ci.ab.duet import pair_blocks, run_duet
from plog_ci.config.model import LoadConfig
from plog_ci.errors import InputError, InternalError
from plog_ci.loadgen.script import Script, generate
from plog_ci.runner.capture import Delta
from plog_ci.runner.histogram import Histogram, merge
from testing.k6_tools import need_k6
from testing.paths import ROOT
from testing.servers import petstore, recording_server
from testing.specs import load_any_spec

SPEC = ROOT / "examples/petstore/openapi.yaml"


def _delta(requests: int, ms: float) -> Delta:
    """``requests`` values of ``ms`` in k6's schema-3 buckets."""
    index = math.ceil(math.log(ms / 1000) / math.log(2 ** (2**-3)))
    hist = Histogram(count=requests, sum=requests * ms / 1000, buckets={index: requests})
    return Delta(hist, requests, 0, {})


def test_blocks_pair_the_same_pushes_and_keep_every_request() -> None:
    script = Script(text="", operations=("GET /a",), duration_s=6)
    # Pushes: nothing yet, a partial first second, four full ones, a partial last, nothing.
    head_sizes = [0, 3, 20, 20, 20, 20, 4, 0]
    base_sizes = [0, 2, 20, 19, 20, 21, 5, 0]
    deltas = {
        "head": [{"GET /a": _delta(n, 4.0)} for n in head_sizes],
        "base": [{"GET /a": _delta(n, 5.0)} for n in base_sizes],
    }
    blocks = pair_blocks(deltas, 3, script, 0)
    counts = {side: [b.operations["GET /a"].count for b in blocks[side]] for side in blocks}
    # About 174 / 3 requests a block: the partial seconds join their neighbours, and
    # nothing is dropped.
    assert counts == {"head": [23, 40, 24], "base": [22, 39, 26]}
    assert [b.duration_s for b in blocks["head"]] == [2.0, 2.0, 2.0]
    pooled = merge([Histogram.from_dict(b.histograms["GET /a"]) for b in blocks["base"]])
    assert pooled.count == sum(base_sizes)
    assert blocks["base"][0].operations["GET /a"].p50 == pytest.approx(5.0, rel=0.05)
    # More rounds than busy pushes: one block per push.
    assert len(pair_blocks(deltas, 50, script, 0)["head"]) == 6
    idle = {side: [{"GET /a": _delta(0, 1.0)}] for side in ("base", "head")}
    assert pair_blocks(idle, 3, script, 0) == {"base": [], "head": []}


@pytest.mark.slow
def test_one_k6_process_loads_both_sides_and_the_capture_splits_them(tmp_path: Path) -> None:
    need_k6()
    spec = load_any_spec(SPEC)
    ops = [spec.operations[k] for k in ("GET /pets", "POST /pets", "GET /pets/{petId}")]
    on_base = ("GET /pets", "GET /pets/{petId}")  # POST /pets is new in the head
    script = generate(spec, ops, LoadConfig(rate=20, duration_s=3, vus=4), duet_base=on_base)
    with recording_server() as (base_url, base), recording_server() as (head_url, head):
        result = run_duet(
            script, {"base": base_url, "head": head_url}, tmp_path / "k6", rounds=3, timeout_s=60
        )
    runs = result.runs
    for op in on_base:
        assert 55 <= runs["head"].operations[op].count <= 61, op  # 20/s for 3 s
        assert 55 <= runs["base"].operations[op].count <= 61, op
    assert runs["base"].operations["POST /pets"].count == 0
    # What each server received is what the capture counted for its side, setup included:
    # both sides create their own ids before the load.
    for side, rec in (("base", base), ("head", head)):
        assert len(rec.requests) == runs[side].total.count + runs[side].setup_requests
        assert runs[side].setup_requests == 5
        posts = [r for r in rec.requests if r[0] == "POST"]
        assert len(posts) == 5 + runs[side].operations["POST /pets"].count
    # Blocks of one index cover the same seconds on both sides and pool to the whole run.
    assert len(result.blocks["base"]) == len(result.blocks["head"]) == 3
    for side in ("base", "head"):
        for op in on_base:
            pooled = sum(b.operations[op].count for b in result.blocks[side])
            assert pooled == runs[side].operations[op].count
            merged = merge([Histogram.from_dict(b.histograms[op]) for b in result.blocks[side]])
            assert merged.count == Histogram.from_dict(runs[side].histograms[op]).count
    assert [b.duration_s for b in result.blocks["base"]] == [
        b.duration_s for b in result.blocks["head"]
    ]


def test_targets_that_resolve_apart_are_refused(tmp_path: Path) -> None:
    need_k6()
    spec = load_any_spec(SPEC)
    ops = [spec.operations["GET /pets"]]
    script = generate(spec, ops, LoadConfig(rate=1, duration_s=1), duet_base=("GET /pets",))
    urls = {"base": "http://127.0.0.1:9", "head": "http://localhost:9"}
    with pytest.raises(InputError, match="different addresses"):
        run_duet(script, urls, tmp_path / "k6", rounds=2, timeout_s=10)
    plain = generate(spec, ops, LoadConfig(rate=1, duration_s=1))
    same = {"base": urls["base"], "head": urls["base"]}
    with pytest.raises(InternalError, match="duet script"):
        run_duet(plain, same, tmp_path, rounds=2, timeout_s=5)


@pytest.mark.slow
def test_the_example_service_answers_both_sides_with_their_own_ids(tmp_path: Path) -> None:
    need_k6()
    spec = load_any_spec(SPEC)
    ops = list(spec.operations.values())
    script = generate(
        spec, ops, LoadConfig(rate=10, duration_s=2, vus=4), duet_base=tuple(o.key for o in ops)
    )
    with petstore() as base_url, petstore() as head_url:
        result = run_duet(
            script, {"base": base_url, "head": head_url}, tmp_path / "k6", rounds=2, timeout_s=60
        )
    for side in ("base", "head"):
        total = result.runs[side].total
        assert total.count >= 4 * 18 and total.failures == 0, (side, total.errors_by_status)
