"""Number formatting shared by the markdown, terminal and HTML renderers."""

from __future__ import annotations

from typing import Optional

DASH = "—"


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
