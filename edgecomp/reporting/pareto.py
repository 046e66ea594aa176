"""Pareto fronts over artifacts: which variants are worth deploying on a given trade-off.

Pure functions over report.json artifact dicts. A point that lacks a number the trade-off needs
(a failed export, an accuracy that was not measured) is left out: neither on the front nor dominated.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from edgecomp.core.emulation import is_emulated


def _measured_on_device(read: Callable[[dict], Optional[float]]) -> Callable[[dict], Optional[float]]:
    """An emulator's latency or memory is not the device's: such a point is not placed on that axis."""
    return lambda a: None if is_emulated(a) else read(a)

# Metric name -> how to read it from an artifact dict (None when not measured).
METRICS: dict[str, Callable[[dict], Optional[float]]] = {
    "accuracy": lambda a: a.get("accuracy"),
    "size": lambda a: a.get("size_bytes"),
    "gzip": lambda a: a.get("gzip_bytes"),
    "latency": _measured_on_device(lambda a: (a.get("latency_ms") or {}).get("p50")),
    "latency_p90": _measured_on_device(lambda a: (a.get("latency_ms") or {}).get("p90")),
    "memory": _measured_on_device(lambda a: a.get("model_peak_mb")),
}

# The two trade-offs every report shows: accuracy up with size down, accuracy up with latency down.
SIZE_TRADEOFF = {"maximize": ("accuracy",), "minimize": ("size",)}
LATENCY_TRADEOFF = {"maximize": ("accuracy",), "minimize": ("latency",)}
JOINT_TRADEOFF = {"maximize": ("accuracy",), "minimize": ("size", "latency")}


def _reader(name: str) -> Callable[[dict], Optional[float]]:
    if name not in METRICS:
        raise ValueError(f"unknown Pareto metric {name!r}; valid metrics: {', '.join(METRICS)}")
    return METRICS[name]


def objective_vector(artifact: dict, maximize: Sequence[str], minimize: Sequence[str]) -> Optional[tuple]:
    """The artifact's objectives, all turned into 'larger is better'; None when it cannot be placed.

    Args:
        artifact: One entry of report["artifacts"].
        maximize: Metric names where larger is better (see `METRICS`).
        minimize: Metric names where smaller is better.

    Returns:
        A tuple of floats (minimized metrics negated), or None for a failed artifact or a missing number.
    """
    if artifact.get("status") == "failed":
        return None
    values = []
    for name, sign in [(m, 1.0) for m in maximize] + [(m, -1.0) for m in minimize]:
        value = _reader(name)(artifact)
        if value is None:
            return None
        values.append(sign * float(value))
    return tuple(values)


def dominates(first: tuple, second: tuple) -> bool:
    """True when `first` is at least as good on every objective and strictly better on one.

    Equal vectors do not dominate each other, so exact ties all stay on the front.
    """
    return all(f >= s for f, s in zip(first, second)) and any(f > s for f, s in zip(first, second))


def dominated_by(points: Sequence[dict], maximize: Sequence[str] = ("accuracy",),
                 minimize: Sequence[str] = ("size",)) -> list[Optional[int]]:
    """For each point, the index of a point that dominates it (one on the front when possible).

    Args:
        points: Artifact dicts (report["artifacts"] or comparison rows with the same keys).
        maximize: Metrics where larger is better.
        minimize: Metrics where smaller is better.

    Returns:
        A list aligned with `points`: None for points on the front and for points that cannot be
        placed (see `objective_vector`), otherwise the index of a dominating point.
    """
    vectors = [objective_vector(p, maximize, minimize) for p in points]
    result: list[Optional[int]] = []
    for i, mine in enumerate(vectors):
        dominators = [j for j, other in enumerate(vectors)
                      if j != i and mine is not None and other is not None and dominates(other, mine)]
        # Prefer a dominator that is itself on the front: it is the variant to pick instead.
        undominated = [j for j in dominators if not any(dominates(vectors[k], vectors[j])
                                                          for k in dominators if k != j)]
        result.append((undominated or dominators or [None])[0])
    return result


def pareto_front(points: Sequence[dict], maximize: Sequence[str] = ("accuracy",),
                 minimize: Sequence[str] = ("size",)) -> list[int]:
    """Indices of the non-dominated points, in input order.

    Args:
        points: Artifact dicts; failed ones and ones missing a needed number are excluded.
        maximize: Metrics where larger is better, e.g. ("accuracy",).
        minimize: Metrics where smaller is better, e.g. ("size",) or ("latency",).

    Returns:
        Indices into `points` of every placed point that no other point dominates (ties all kept).

    Raises:
        ValueError: A metric name not in `METRICS`.
    """
    vectors = [objective_vector(p, maximize, minimize) for p in points]
    return [i for i, mine in enumerate(vectors)
            if mine is not None and not any(other is not None and dominates(other, mine) for other in vectors)]
