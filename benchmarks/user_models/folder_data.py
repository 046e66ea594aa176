"""The image folder a user brings, made from real Fashion-MNIST images (shared by run.py and small_data/run.py).

Real Fashion-MNIST training images (Debian's dataset-fashion-mnist through edgecomp.data), `per_class`
of each class, each resized to a random 96-128 px square RGB image and written as PNG or JPEG, one
sub-folder per class, plus one corrupt file (a truncated JPEG) as users' folders have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SIDES = (96, 128)


def write_folder(folder: Path, per_class: int, seed: int = 0) -> None:
    """`per_class` images per class at random 96-128 px sizes, RGB, half PNG and half JPEG, one corrupt file."""
    from PIL import Image

    from edgecomp.data.dataset import FASHION_MNIST_CLASSES, fashion_mnist

    raw = fashion_mnist()
    rng = np.random.default_rng(seed)
    for label, name in enumerate(FASHION_MNIST_CLASSES):
        sub = folder / name.replace("/", "-")
        sub.mkdir(parents=True, exist_ok=True)
        for index in np.flatnonzero(raw.y_train == label)[:per_class]:
            side = int(rng.integers(IMAGE_SIDES[0], IMAGE_SIDES[1] + 1))
            image = Image.fromarray(raw.x_train[index][..., 0]).resize((side, side), Image.BILINEAR).convert("RGB")
            if index % 2:
                image.save(sub / f"img_{index:05d}.png")
            else:
                image.save(sub / f"img_{index:05d}.jpg", quality=92)
    good = next((folder / "Bag").glob("*.jpg")).read_bytes()
    (folder / "Bag" / "IMG_corrupt.jpg").write_bytes(good[: len(good) // 3])  # a truncated download
