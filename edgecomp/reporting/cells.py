"""Table cells: numbers and labels formatted once for the terminal, markdown, HTML and CSV views.

A missing value (not measured, failed) is the dash in every format.
"""

from __future__ import annotations

from typing import Optional

DASH = "—"
STATUS_LABELS = {"ok": "ok", "parity_failed": "parity failed", "failed": "failed"}


def text(value) -> str:
    """Any value as a cell: None or "" -> the dash."""
    return DASH if value is None or value == "" else str(value)


def status_label(status: Optional[str]) -> str:
    return STATUS_LABELS.get(status or "", status or DASH)


def size(num_bytes: Optional[int]) -> str:
    if num_bytes is None:
        return DASH
    if num_bytes >= 1e6:
        return f"{num_bytes / 1e6:.2f} MB"
    return f"{num_bytes / 1e3:.1f} kB"


def percent(fraction: Optional[float]) -> str:
    return DASH if fraction is None else f"{100 * fraction:.2f}%"


def ms(value: Optional[float]) -> str:
    if value is None:
        return DASH
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def number(value: Optional[float], digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}g}"


def ratio(value: Optional[float]) -> str:
    return DASH if value is None else f"{value:.2f}x"


def points(delta: Optional[float]) -> str:
    return DASH if delta is None else f"{100 * delta:+.2f} pt"


def efficiency(value: Optional[float]) -> str:
    """Accuracy in percent per MB or per ms (see `edgecomp.measure.metrics`), one decimal."""
    return DASH if value is None else f"{value:.1f}"
