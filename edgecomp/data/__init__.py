"""Datasets: real images, normalised, split into train / validation / test.

`dataset.load_dataset(name_or_path)` is the one entry point; the names live in `dataset.DATASETS`.
"""
