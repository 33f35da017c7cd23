import math
import random
import re
from pathlib import Path

import pytest

from s6nf.agent.maps import DEFAULT_SLOT_NS
from s6nf.measure import histogram as h

CONSTS = (Path(__file__).parents[2] / "ebpf" / "include" / "consts.h").read_text()


def c_define(name):
    match = re.search(rf"#define {name} (\d+)", CONSTS)
    assert match, name
    return int(match.group(1))


def test_constants_mirror_the_c_header():
    assert c_define("HIST_SUB_BITS") == h.SUB_BITS
    assert c_define("HIST_MAX_LOG2") == h.MAX_LOG2
    assert h.BUCKETS == 1024
    assert c_define("DEFAULT_SLOT_NS") == DEFAULT_SLOT_NS


def test_buckets_tile_the_range_without_gaps_or_overlap():
    expected_low = 0
    for bucket in range(h.BUCKETS):
        low, high = h.bucket_range(bucket)
        assert low == expected_low and high > low
        assert h.bucket_of(low) == bucket and h.bucket_of(high - 1) == bucket
        if low >= h.SUB:
            assert (high - low) * h.SUB <= low
        expected_low = high
    assert expected_low == 1 << (h.MAX_LOG2 + 1)
    assert h.bucket_of(1 << 40) == h.BUCKETS - 1


def test_percentiles_are_the_nearest_rank_bucket_upper_value():
    rng = random.Random(3)
    values = sorted(int(rng.lognormvariate(10, 1.5)) for _ in range(10_001))
    hist = h.Histogram.of(values)
    for p in (1, 50, 90, 99, 99.9, 100):
        exact = values[max(1, math.ceil(p / 100 * len(values))) - 1]
        high = h.bucket_range(h.bucket_of(exact))[1]
        assert hist.percentile_bucket(p) == h.bucket_of(exact)
        assert hist.percentile(p) == high - 1 >= exact
        assert hist.percentile(p) - exact < max(1, exact / h.SUB)


def test_merged_histograms_add_up():
    a, b = h.Histogram.of([1, 100, 10_000]), h.Histogram.of([100, 1 << 30])
    merged = h.Histogram.merged([a, b])
    assert merged.total == 5 and merged.counts[h.bucket_of(100)] == 2


@pytest.mark.parametrize("call, match", [
    (lambda: h.Histogram.empty().percentile(50), "empty"),
    (lambda: h.Histogram.of([1]).percentile(0), "percentile"),
    (lambda: h.bucket_of(-1), "negative"),
    (lambda: h.bucket_range(h.BUCKETS), "out of range"),
    (lambda: h.Histogram((1, 2)), "1024 buckets"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
