"""bench/api_use.py splits the rate limit's unused capacity into start, between runs and end.

Counters are given as the emulator's stats would report them (the poll itself is exercised by the
throughput smoke test); the arithmetic is what the results in throughput.md rest on.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from api_use import REJECTED, ApiUse  # noqa: E402


def use_of(per_second: list[tuple[int, int]], limit: float = 10, rejected: list[int] | None = None) -> ApiUse:
    """One sample a second; (parse, extraction) requests sent in each second, and the 429s answered in it."""
    use = ApiUse("http://127.0.0.1:1", limit, every_s=1.0)
    parse = extract = total_429 = 0
    use.samples.append((0.0, {"parse": 0, "extract": 0, REJECTED: 0}))
    for second, (p, x) in enumerate(per_second, start=1):
        parse, extract = parse + p, extract + x
        total_429 += (rejected or [0] * len(per_second))[second - 1]
        use.samples.append((float(second), {"parse": parse, "extract": extract, REJECTED: total_429}))
    return use


def test_unused_capacity_is_split_at_the_first_and_last_busy_seconds():
    # idle 2 s, half a second's ramp, busy, a run change losing 1.0 s, busy, a 0.5 s tail
    use = use_of([(0, 0), (0, 0), (10, 0), (10, 10), (0, 10), (10, 0), (10, 10), (0, 10), (0, 0)])
    assert [round(r, 1) for _, _, r in use.rates()] == [0, 0, 5, 10, 5, 5, 10, 5, 0]
    assert use.summary(9.0) == ("limit unused (seconds of it): start 2.5 (busy from 3.0 s), between 1.0, "
                                "end 1.5 (busy until 7.0 s)")


def test_time_measured_after_the_last_sample_counts_as_unused_at_the_end():
    use = use_of([(10, 10), (10, 10)])
    assert use.summary(3.0).endswith("end 1.0 (busy until 2.0 s)")


def test_a_run_that_never_reaches_the_limit_says_so():
    assert use_of([(2, 2)] * 3).summary(3.0) == "the API never reached 90% of the limit"
    assert ApiUse("http://127.0.0.1:1", 10).summary(1.0) == "API use not sampled"


def test_429s_are_split_like_the_unused_capacity():
    # a 429 while the first runs start, three in the steady state (two of them in one second), none at the end
    use = use_of([(0, 0), (10, 0), (10, 10), (10, 10), (10, 10), (0, 10), (0, 0)], rejected=[0, 1, 0, 2, 1, 0, 0])
    assert [round(r, 1) for _, _, r in use.rates()] == [0, 5, 10, 10, 10, 5, 0], "429s are not an endpoint's use"
    assert use.summary(7.0).endswith("; 429s: start 1, between 3, end 0, at most 2 in one 1 s sample")
    assert "429s" not in use_of([(10, 10)] * 3).summary(3.0)
