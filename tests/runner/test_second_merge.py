"""N runners' pushes become one live point per operation and second (a new user saw
runners: 4 shown as a quarter of the rate): counts summed, latencies from the merged
histograms; a second is handed on once every runner has pushed past it."""

from __future__ import annotations

from plog_ci.results import TOTAL, SeriesPoint
from plog_ci.runner.histogram import merge
from plog_ci.runner.second_merge import LAG_S, SecondMerger
from tests.runner.test_histogram import from_values

T0 = 1_700_000_000


def _push(merger: SecondMerger, segment: str, second: float, values: list[float]) -> None:
    hist = from_values(values)
    point = SeriesPoint("GET /a", second, len(values), failures=1, errors_by_status={"500": 1})
    merger.add_point(segment, point, hist)


def test_two_runners_one_second_is_one_point_with_merged_latencies() -> None:
    merger = SecondMerger(("GET /a",))
    fast, slow = [0.010] * 9, [0.500] * 9
    _push(merger, "0", T0 + 0.2, fast)
    assert merger.ready() == []  # runner 1 has not pushed yet
    _push(merger, "1", T0 + 0.7, slow)
    assert merger.ready() == []  # neither has pushed past this second
    _push(merger, "0", T0 + 1.2, fast)
    assert merger.ready() == []  # runner 1 still in T0
    _push(merger, "1", T0 + 1.6, slow)
    (point, total) = merger.ready()
    assert (point.operation, point.second, point.count, point.failures) == ("GET /a", T0, 18, 2)
    assert point.errors_by_status == {"500": 2} and point.segment == ""
    whole = merge([from_values(fast), from_values(slow)])
    assert point.p95 == whole.quantile(0.95) * 1000.0 and point.p50 == whole.quantile(0.5) * 1000
    assert (total.operation, total.count, total.p95) == (TOTAL, 18, point.p95)
    held = merger.drain()
    assert [(p.second, p.count) for p in held if p.operation != TOTAL] == [(T0 + 1, 18)]
    assert merger.drain() == []


def test_a_runner_that_stopped_pushing_holds_back_at_most_the_lag() -> None:
    merger = SecondMerger(("GET /a",))
    _push(merger, "0", T0 + 0.5, [0.01])
    _push(merger, "1", T0 + 0.5, [0.01])
    for offset in range(1, LAG_S + 1):  # runner 1 went silent
        _push(merger, "0", T0 + offset + 0.5, [0.01])
    seconds = [p.second for p in merger.ready() if p.operation != TOTAL]
    assert seconds == [T0]  # T0 + 1 waits for runner 1 no longer than LAG_S
