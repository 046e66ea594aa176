"""The time left of a loop of similar steps (exports, benchmarks), from the steps already done."""

import time

from edgecomp.core.progress import remaining


def test_time_left_is_the_mean_step_times_the_steps_left():
    started = time.perf_counter() - 10.0  # two steps took 10 s
    assert remaining(started, 2, 4) == ", about 10 s left"
    assert remaining(time.perf_counter() - 100.0, 1, 3) == ", about 3 min 20 s left"


def test_no_estimate_before_the_first_step_after_the_last_or_under_a_second():
    now = time.perf_counter()
    assert remaining(now - 5.0, 0, 4) == ""
    assert remaining(now - 5.0, 4, 4) == ""
    assert remaining(now - 0.2, 1, 2) == ""
