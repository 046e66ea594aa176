"""`RawSplits`: what every dataset loader returns, before `edgecomp.data.dataset` splits and
normalises it (a leaf module, so loaders in other modules need not import the dataset module)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RawSplits:
    """What a loader returns: uint8 images (N, H, W, C) and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str
    # Files an image-folder loader could not decode: (path, reason), listed in the report.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
