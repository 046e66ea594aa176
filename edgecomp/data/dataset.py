"""The `Dataset` record and the loaders behind each dataset name.

Every loader returns uint8-range images; `Dataset` normalises them to float32 in [0, 1] and
carves a validation split off the training images (never off the test images).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgecomp.data.idx import read_idx
from edgecomp.errors import DatasetError
from edgecomp.registry import Registry

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@dataclass
class RawSplits:
    """What a loader returns: uint8-range images (N, H, W, C) and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str


@dataclass
class Dataset:
    """Normalised float32 images in [0, 1], shape (N, H, W, C), with integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str
    normalization: dict = field(default_factory=lambda: {"scale": 1 / 255.0, "offset": 0.0})

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # (H, W, C)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict:
        """The facts a report records about this dataset."""
        return {
            "name": self.name,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "train": int(len(self.x_train)),
            "val": int(len(self.x_val)),
            "test": int(len(self.x_test)),
            "normalization": f"x * {self.normalization['scale']:.6g} + {self.normalization['offset']}"
            " (uint8 pixels to [0, 1])",
        }


DATASETS: Registry[Callable[[], RawSplits]] = Registry("dataset")


def _find_idx_dir(subdir: str, env_hint: str) -> Path | None:
    """Looks for the four IDX files in $EDGECOMP_DATA_DIR, Debian's package and Keras' cache."""
    candidates = []
    if os.environ.get("EDGECOMP_DATA_DIR"):
        base = Path(os.environ["EDGECOMP_DATA_DIR"])
        candidates += [base / subdir, base]
    candidates += [
        Path("/usr/share/datasets") / subdir,
        Path.home() / ".keras" / "datasets" / subdir,
    ]
    for folder in candidates:
        if _idx_path(folder, "train-images-idx3-ubyte") is not None:
            return folder
    return None


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_idx_dataset(subdir: str, keras_loader: str, class_names: list[str]) -> RawSplits:
    folder = _find_idx_dir(subdir, keras_loader)
    if folder is None:
        return _keras_download(keras_loader, class_names, subdir)
    files = {}
    for split, stem in [("x_train", "train-images-idx3-ubyte"), ("y_train", "train-labels-idx1-ubyte"),
                        ("x_test", "t10k-images-idx3-ubyte"), ("y_test", "t10k-labels-idx1-ubyte")]:
        path = _idx_path(folder, stem)
        if path is None:
            raise DatasetError(f"{folder} has no {stem}[.gz]; it needs all four IDX files.")
        files[split] = read_idx(path)
    return RawSplits(
        x_train=files["x_train"][..., None], y_train=files["y_train"].astype(np.int64),
        x_test=files["x_test"][..., None], y_test=files["y_test"].astype(np.int64),
        class_names=class_names, source=str(folder),
    )


def _keras_download(loader: str, class_names: list[str], subdir: str) -> RawSplits:
    """Falls back on Keras' own loader, which downloads; offline it fails with the remedies."""
    from edgecomp.tfenv import keras

    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras().datasets, loader).load_data()
    except Exception as err:  # noqa: BLE001 - urllib, HTTP and proxy errors all mean "no download"
        debian = " or `apt-get install dataset-fashion-mnist`" if subdir == "fashion-mnist" else ""
        raise DatasetError(
            f"dataset {subdir!r} is not on this machine and Keras could not download it ({type(err).__name__}: "
            f"{err}). Put the files in $EDGECOMP_DATA_DIR/{subdir} or ~/.keras/datasets/{subdir}{debian}, "
            "or pass --dataset path/to/data.npz or an image folder."
        ) from err
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return RawSplits(x_train, y_train.reshape(-1).astype(np.int64), x_test,
                     y_test.reshape(-1).astype(np.int64), class_names, f"keras.datasets.{loader}")


@DATASETS.register("fashion_mnist")
def fashion_mnist() -> RawSplits:
    return _load_idx_dataset("fashion-mnist", "fashion_mnist", FASHION_MNIST_CLASSES)


@DATASETS.register("mnist")
def mnist() -> RawSplits:
    return _load_idx_dataset("mnist", "mnist", [str(d) for d in range(10)])


@DATASETS.register("cifar10")
def cifar10() -> RawSplits:
    return _keras_download("cifar10", CIFAR10_CLASSES, "cifar10")


@DATASETS.register("cifar100")
def cifar100() -> RawSplits:
    return _keras_download("cifar100", [f"class_{i}" for i in range(100)], "cifar100")


def load_npz(path: Path) -> RawSplits:
    """Reads an `.npz` holding x_train, y_train, x_test, y_test (and optionally class_names).

    Loaded with allow_pickle=False: an npz must never run code.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(archive.files)
            if missing:
                raise DatasetError(
                    f"{path} lacks {', '.join(sorted(missing))}; an npz dataset needs x_train, y_train, "
                    "x_test and y_test arrays."
                )
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {path} as an npz archive ({err}).") from err
    x_train, x_test = arrays["x_train"], arrays["x_test"]
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    y_train = arrays["y_train"].reshape(-1).astype(np.int64)
    y_test = arrays["y_test"].reshape(-1).astype(np.int64)
    if "class_names" in arrays:
        class_names = [str(c) for c in arrays["class_names"]]
    else:
        class_names = [str(i) for i in range(int(max(y_train.max(), y_test.max())) + 1)]
    return RawSplits(x_train, y_train, x_test, y_test, class_names, str(path))


def load_image_folder(path: Path, test_fraction: float = 0.2, seed: int = 0) -> RawSplits:
    """Reads a folder with one sub-folder of images per class; a stratified test split is held out."""
    from PIL import Image

    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    if not class_dirs:
        raise DatasetError(f"{path} has no class sub-folders; expected {path}/<class name>/<image files>.")
    images, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                try:
                    images.append(np.asarray(Image.open(file)))
                except OSError as err:
                    raise DatasetError(f"cannot read image {file}: {err}") from err
                labels.append(label)
    if not images:
        raise DatasetError(
            f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class sub-folders."
        )
    shapes = {img.shape for img in images}
    if len(shapes) != 1:
        raise DatasetError(f"images in {path} differ in size ({sorted(shapes)[:3]}...); resize them to one size.")
    x = np.stack(images)
    if x.ndim == 3:
        x = x[..., None]
    y = np.asarray(labels, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return RawSplits(x[train], y[train], x[test], y[test], [d.name for d in class_dirs], str(path))


def load_dataset(
    name_or_path: str,
    val_fraction: float = 0.1,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Loads a dataset by registered name, `.npz` path or image-folder path.

    Args:
        name_or_path: "fashion_mnist", "mnist", "cifar10", "cifar100", a `.npz` file or a folder.
        val_fraction: share of the training images held out for validation.
        train_limit: keep at most this many training images (a stratified-enough random subset).
        test_limit: keep at most this many test images.
        seed: seeds the subset and split choice.

    Raises:
        DatasetError: the data cannot be found or read. UsageError: an unknown dataset name.
    """
    path = Path(name_or_path).expanduser()
    if path.suffix == ".npz" or path.is_dir():
        if not path.exists():
            raise DatasetError(f"dataset file {path} does not exist.")
        raw = load_npz(path) if path.suffix == ".npz" else load_image_folder(path, seed=seed)
        name = path.name
    elif "/" in name_or_path or path.suffix:
        raise DatasetError(f"dataset {name_or_path!r} does not exist; give a .npz file or an image folder.")
    else:
        raw = DATASETS.get(name_or_path)()  # an unknown name raises with a did-you-mean
        name = name_or_path
    return _finish(raw, name, val_fraction, train_limit, test_limit, seed)


def _finish(raw: RawSplits, name: str, val_fraction: float, train_limit: int | None,
            test_limit: int | None, seed: int) -> Dataset:
    if len(raw.x_train) != len(raw.y_train) or len(raw.x_test) != len(raw.y_test):
        raise DatasetError(f"dataset {name}: images and labels differ in count.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(raw.x_train))
    if train_limit:
        order = order[:train_limit]
    n_val = max(1, int(len(order) * val_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    x_test, y_test = raw.x_test, raw.y_test
    if test_limit and test_limit < len(x_test):
        keep = rng.permutation(len(x_test))[:test_limit]
        x_test, y_test = x_test[keep], y_test[keep]

    def normalise(images: np.ndarray) -> np.ndarray:
        return images.astype(np.float32) / 255.0

    return Dataset(
        name=name,
        x_train=normalise(raw.x_train[train_idx]), y_train=raw.y_train[train_idx],
        x_val=normalise(raw.x_train[val_idx]), y_val=raw.y_train[val_idx],
        x_test=normalise(x_test), y_test=y_test,
        class_names=raw.class_names, source=raw.source,
    )
