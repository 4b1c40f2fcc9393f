"""Live capture with the real k6: fidelity to k6's summary, errors, segments, bounded state."""

import struct

import pytest

from plog_ci.config.model import LoadConfig
from plog_ci.loadgen.script import generate
from plog_ci.results import TOTAL
from plog_ci.runner.capture import Capture
from plog_ci.runner.histogram import Histogram
from plog_ci.runner.k6 import run_k6
from plog_ci.runner.segments import run_segments, segment_sequence
from testing.k6_tools import need_k6
from testing.paths import ROOT
from testing.remote_write import field, label, snappy_literal, varint, zigzag
from testing.servers import petstore, recording_server
from testing.specs import load_any_spec

BUCKET = 2 ** (2**-3)  # k6 writes schema 3


@pytest.mark.slow
def test_capture_agrees_with_k6_summary(tmp_path):
    need_k6()
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    load = LoadConfig(rate=15, duration_s=3, vus=4)
    seconds = []
    with petstore() as url:
        script = generate(spec, list(spec.operations.values()), load, url, k6_submetrics=True)
        result = run_k6(script, url, tmp_path / "k6", timeout_s=60, on_second=seconds.append)
    assert result.k6_exit_code == 0 and result.thresholds_crossed == ()
    for op, ours in result.operations.items():
        k6 = result.k6_summary[op]
        assert ours.count == k6.count >= 40
        assert ours.failures == k6.failures == 0
        assert ours.mean == pytest.approx(k6.mean, rel=1e-6)
        # Within one bucket of k6's value where samples are dense; with ~45 samples a
        # quantile can fall in a gap between two far-apart ones (k6 interpolates between
        # them, the histogram inside its bucket): then it must at least lie within one
        # bucket of the band between its neighbouring quantiles.
        for q, low, high in (("p50", "min", "p90"), ("p90", "p50", "p95")):
            ratio = getattr(ours, q) / getattr(k6, q)
            near = 1 / BUCKET <= ratio <= BUCKET
            within = getattr(k6, low) / BUCKET <= getattr(ours, q) <= getattr(k6, high) * BUCKET
            assert near or within, (op, q, getattr(ours, q), getattr(k6, q))
        assert result.histograms[op]["count"] == ours.count
    # The live stream saw every measured request, second by second.
    streamed = sum(p.count for batch in seconds for p in batch if p.operation != TOTAL)
    assert streamed == result.total.count
    assert len(seconds) >= 3
    assert {p.operation for p in seconds[0]} == {*script.operations, TOTAL}
    # Each push's whole-run point sums its operations; its latencies come from the
    # merged histograms, so they lie within the operations' range, never outside.
    for batch in seconds:
        (total,) = [p for p in batch if p.operation == TOTAL]
        ops = [p for p in batch if p.operation != TOTAL]
        assert total.count == sum(p.count for p in ops)
        busy = [p for p in ops if p.count]
        if busy:
            assert total.p90 is not None and total.p95 is not None
            low, high = min(p.p95 or 0 for p in busy), max(p.p95 or 0 for p in busy)
            assert low / BUCKET <= total.p95 <= high * BUCKET
    assert result.total.count == sum(s.count for s in result.operations.values())


@pytest.mark.slow
def test_errors_by_status(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    op = spec.operations["GET /pets"]
    with recording_server(status=503) as (url, rec):
        script = generate(spec, [op], LoadConfig(profile="smoke", rate=3, duration_s=2), url)
        result = run_k6(script, url, tmp_path / "k6", timeout_s=60)
    stats = result.operations["GET /pets"]
    assert stats.count == len(rec.requests) > 0
    assert stats.failures == stats.count and stats.errors_by_status == {"503": stats.count}


@pytest.mark.slow
def test_segments_merge_exactly(tmp_path):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    op = spec.operations["GET /pets"]
    with recording_server() as (url, rec):
        script = generate(spec, [op], LoadConfig(rate=20, duration_s=2), url)
        result, per_segment = run_segments(script, url, tmp_path / "k6", 2, timeout_s=60)
    assert len(per_segment) == 2 and all(n > 0 for n in per_segment.values())
    assert sum(per_segment.values()) == result.total.count == len(rec.requests)
    assert 38 <= result.total.count <= 41  # 20/s for 2 s, split with no overlap
    assert Histogram.from_dict(result.histograms["GET /pets"]).count == result.total.count


def test_segment_sequences():
    assert segment_sequence(1) == ("0,1", ["0:1"])
    assert segment_sequence(4) == ("0,1/4,1/2,3/4,1", ["0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"])
    with pytest.raises(Exception, match="between"):
        segment_sequence(0)


def _push(count: int, status: str = "200") -> bytes:
    return snappy_literal(_series(count, status))


def _series(count: int, status: str = "200", side: str | None = None) -> bytes:
    labels = label("name", "GET /a") + label("status", status)
    labels += label("expected_response", "true" if status == "200" else "false")
    if side is not None:
        labels += label("plog_side", side)
    hist = (
        field(1, 0, varint(count))
        + field(3, 1, struct.pack("<d", 0.01 * count))
        + field(4, 0, varint(zigzag(3)))
        + field(11, 2, field(1, 0, varint(zigzag(-53))) + field(2, 0, varint(1)))
        + field(12, 2, varint(zigzag(count)))
        + field(15, 0, varint(1_700_000_000_000 + count))
    )
    series = field(
        1, 2, label("__name__", "k6_http_req_duration_seconds") + labels + field(4, 2, hist)
    )
    sample = field(2, 2, field(1, 1, struct.pack("<d", float(count))) + field(2, 0, varint(1)))
    reqs = field(1, 2, label("__name__", "k6_http_reqs_total") + labels + sample)
    return series + reqs


def test_state_stays_bounded_over_many_pushes():
    capture = Capture(("GET /a",), keep_points=50)
    for second in range(1, 2001):
        assert capture.ingest("0", _push(second * 10))
    state = capture._segments["0"]
    assert len(state.hists) == 1 and len(state.reqs) == 1 and len(capture.points) == 50
    assert all(p.count == 10 for p in capture.points)
    per_op, total = capture.stats(2000.0)
    assert per_op["GET /a"].count == 20000 and total.rps == 10.0
    assert not capture.ingest("0", b"\x05garbage") and capture.bad_pushes == 1


def test_callback_errors_do_not_stop_the_capture():
    def broken(points):
        raise RuntimeError("store is down")

    capture = Capture(("GET /a",), on_second=broken)
    assert capture.ingest("0", _push(5)) and capture.ingest("0", _push(9))
    assert capture.callback_error == "RuntimeError: store is down"
    assert capture.stats(1.0)[0]["GET /a"].count == 9


def test_a_duet_splits_by_side_and_both_captures_see_every_push():
    base = Capture(("GET /a",), where={"plog_side": "base"}, keep_deltas=True)
    head = Capture(("GET /a",), where={"plog_side": "head"}, followers=(base,), keep_deltas=True)
    # Cumulative counts per push: head 10, 30, 60; base 4, 4, 9; series without a
    # side (a plain script's) belong to neither.
    for h, b in ((10, 4), (30, 4), (60, 9)):
        body = _series(h, side="head") + _series(b, side="base") + _series(1000)
        assert head.ingest("0", snappy_literal(body))
    assert head.stats(3.0)[0]["GET /a"].count == 60
    assert base.stats(3.0)[0]["GET /a"].count == 9
    assert head.pushes == base.pushes == 3
    assert head.deltas is not None and base.deltas is not None
    assert [d["GET /a"].requests for d in head.deltas] == [10, 20, 30]
    assert [d["GET /a"].requests for d in base.deltas] == [4, 0, 5]
    assert [d["GET /a"].histogram.count for d in head.deltas] == [10, 20, 30]
    # A plain capture keeps no deltas, and still reads every series.
    plain = Capture(("GET /a",))
    assert plain.ingest("0", snappy_literal(_series(7) + _series(5, side="head")))
    assert plain.deltas is None and plain.stats(1.0)[0]["GET /a"].count == 12
