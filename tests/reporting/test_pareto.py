"""Pareto fronts on hand-made points: dominance, ties, failed and unmeasured artifacts."""

import pytest

from edgecomp.reporting.pareto import dominated_by, dominates, pareto_front


def point(name, accuracy, size_bytes, p50=None, status="ok"):
    return {"name": name, "status": status, "accuracy": accuracy, "size_bytes": size_bytes,
            "latency_ms": None if p50 is None else {"p50": p50}}


def test_front_keeps_trade_offs_and_drops_dominated():
    points = [point("big", 0.91, 2_000_000), point("small", 0.90, 500_000),
              point("worse", 0.89, 600_000), point("best_of_both", 0.905, 400_000)]
    # "small" is beaten by best_of_both on both axes; "worse" too.
    assert pareto_front(points) == [0, 3]
    assert dominated_by(points) == [None, 3, 3, None]


def test_exact_ties_both_stay_on_the_front():
    points = [point("a", 0.90, 500_000), point("b", 0.90, 500_000), point("c", 0.90, 600_000)]
    assert pareto_front(points) == [0, 1]
    # Equal on accuracy, larger: dominated (at least as good everywhere, better on one).
    assert dominated_by(points)[2] in (0, 1)
    assert not dominates((0.9, -5e5), (0.9, -5e5))


def test_tie_on_one_axis_is_decided_by_the_other():
    points = [point("a", 0.90, 500_000), point("b", 0.91, 500_000)]
    assert pareto_front(points) == [1]


def test_failed_and_unmeasured_artifacts_are_excluded_not_crashing():
    points = [point("ok", 0.90, 500_000, p50=0.2),
              {"name": "broken", "status": "failed", "error": "boom", "accuracy": None, "size_bytes": None},
              point("failed_with_numbers", 0.99, 1, p50=0.01, status="failed"),
              point("no_latency", 0.95, 100_000)]
    assert pareto_front(points, minimize=("latency",)) == [0]
    assert dominated_by(points, minimize=("latency",)) == [None, None, None, None]
    assert pareto_front(points, minimize=("size",)) == [3]


def test_latency_trade_off_and_joint():
    points = [point("fast", 0.90, 500_000, p50=0.1), point("accurate", 0.92, 2_000_000, p50=0.4),
              point("slow_small", 0.90, 400_000, p50=0.5)]
    assert pareto_front(points, minimize=("latency",)) == [0, 1]
    assert pareto_front(points, minimize=("size", "latency")) == [0, 1, 2]


def test_parity_failed_points_are_placed():
    points = [point("a", 0.90, 500_000, status="parity_failed"), point("b", 0.89, 600_000)]
    assert pareto_front(points) == [0]


def test_unknown_metric_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid metrics: accuracy, size"):
        pareto_front([point("a", 0.9, 1)], minimize=("sise",))


def test_empty_input():
    assert pareto_front([]) == []
