"""Datasets: real images, normalised, split into train / validation / test.

`load_dataset(name_or_path)` is the one entry point; the names live in `DATASETS`.
"""

from edgecomp.data.dataset import Dataset, load_dataset, DATASETS

__all__ = ["Dataset", "load_dataset", "DATASETS"]
