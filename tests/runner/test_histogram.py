import math
import random

from plog_ci.runner.histogram import Histogram, merge


def from_values(values, schema=3):
    base = 2 ** (2**-schema)
    h = Histogram(schema=schema)
    for v in values:
        index = math.ceil(math.log(v, base))
        h.buckets[index] = h.buckets.get(index, 0) + 1
        h.count += 1
        h.sum += v
    return h


def test_merge_of_parts_equals_histogram_of_all():
    rng = random.Random(7)
    values = [rng.lognormvariate(-5, 0.6) for _ in range(5000)]
    parts = [from_values(values[i::4]) for i in range(4)]
    whole = from_values(values)
    merged = merge(parts)
    assert merged.buckets == whole.buckets and merged.count == whole.count
    assert math.isclose(merged.sum, whole.sum)


def test_schemas_reduce_exactly():
    rng = random.Random(3)
    values = [rng.uniform(0.001, 0.2) for _ in range(2000)]
    fine, coarse = from_values(values, 5), from_values(values, 3)
    assert fine.reduce_to(3).buckets == coarse.buckets
    assert fine.add(coarse).buckets == {k: 2 * v for k, v in coarse.buckets.items()}


def test_quantiles_within_one_bucket():
    rng = random.Random(11)
    values = sorted(rng.lognormvariate(-4, 0.8) for _ in range(20000))
    h = from_values(values)
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = values[int(q * len(values)) - 1]
        assert abs(h.quantile(q) / exact - 1) < 2 ** (2**-3) - 1  # one bucket: ~9%


def test_subtract_gives_the_interval():
    first = from_values([0.01] * 10)
    later = first.add(from_values([0.1] * 5))
    delta = later.subtract(first)
    assert delta.count == 5 and delta.buckets == from_values([0.1] * 5).buckets
    assert Histogram().quantile(0.5) == 0.0
    assert Histogram.from_dict(later.to_dict()) == later


def test_stats_keep_percentiles_between_min_and_max():
    """min/max are bucket centres; interpolated percentiles must not pass them."""
    from plog_ci.runner.capture import stats_from

    rng = random.Random(11)
    for _ in range(200):
        values = [rng.lognormvariate(-5.5, 0.4) for _ in range(rng.randint(1, 30))]
        s = stats_from("GET /a", from_values(values), (len(values), 0, {}), 2.0)
        assert s.min <= s.p50 <= s.p90 <= s.p95 <= s.p99 <= s.max, s
