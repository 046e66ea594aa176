"""The `Dataset` record and the loaders behind each dataset name.

Every loader returns uint8 images; `Dataset` keeps them as uint8 (a 50k-image folder at 96x96
RGB is 1.4 GB, not 5.5 GB of float32), normalises them on the fly (`Dataset.images`,
`edgecomp.data.pipeline`) and carves a validation split off the training images (never off the
test images). Image folders are read by `edgecomp.data.folder`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from edgecomp.core.errors import DatasetError
from edgecomp.core.registry import Registry
from edgecomp.data.folder import load_image_folder, resize_pixels
from edgecomp.data.idx import read_idx
from edgecomp.data.keras_loader import keras_cache_dir, load_with_keras
from edgecomp.data.normalization import UNIT, Normalization, NormalizationSetting, parse_normalization
from edgecomp.data.raw import RawSplits

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]


@dataclass(frozen=True)
class Split:
    """One split held as uint8 pixels (N, H, W, C) and int64 labels (N,): a quarter of float32's memory."""

    pixels: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

SPLITS = ("train", "val", "test")


@dataclass
class Dataset:
    """uint8 images with integer labels, normalised on the fly by `normalization`.

    Every reader goes through `images(split)` (normalised float32, the model's input) or
    `pixels(split)` (uint8); training and evaluation stream batches with `edgecomp.data.pipeline`.
    """

    name: str
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    source: str
    normalization: Normalization = UNIT
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def pixels(self, split: str, limit: int | None = None) -> np.ndarray:
        """uint8 (N, H, W, C) pixels of a split (the first `limit` of them)."""
        return self.split(split).pixels[:limit]

    def images(self, split: str, limit: int | None = None) -> np.ndarray:
        """float32 (N, H, W, C) model inputs: the first `limit` images of a split, normalised."""
        return self.normalization.apply(self.pixels(split, limit))

    def labels(self, split: str, limit: int | None = None) -> np.ndarray:
        return self.split(split).labels[:limit]

    def count(self, split: str) -> int:
        return len(self.split(split))

    def with_train(self, pixels: np.ndarray, labels: np.ndarray) -> "Dataset":
        """A copy with another training split (subsets for benchmarks and tests)."""
        return replace(self, train=Split(pixels, labels))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.pixels.shape[1:])  # (H, W, C)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def memory_bytes(self) -> int:
        return sum(self.split(name).pixels.nbytes for name in SPLITS)

    def describe(self) -> dict:
        """The facts a report records about this dataset."""
        return {
            "name": self.name,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "train": self.count("train"),
            "val": self.count("val"),
            "test": self.count("test"),
            "normalization": self.normalization.summary(),
            "normalization_settings": self.normalization.describe(),
            "held_in_memory": f"uint8, {self.memory_bytes() / 1e6:.1f} MB",
            "skipped_files": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "notes": list(self.notes),
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
        keras_cache_dir() / subdir,
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
        return load_with_keras(keras_loader, class_names, subdir)
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

@DATASETS.register("fashion_mnist")
def fashion_mnist() -> RawSplits:
    return _load_idx_dataset("fashion-mnist", "fashion_mnist", FASHION_MNIST_CLASSES)

@DATASETS.register("mnist")
def mnist() -> RawSplits:
    return _load_idx_dataset("mnist", "mnist", [str(d) for d in range(10)])

@DATASETS.register("cifar10")
def cifar10() -> RawSplits:
    return load_with_keras("cifar10", CIFAR10_CLASSES, "cifar10")

@DATASETS.register("cifar100")
def cifar100() -> RawSplits:
    return load_with_keras("cifar100", [f"class_{i}" for i in range(100)], "cifar100")

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

def load_dataset(
    name_or_path: str,
    val_fraction: float = 0.1,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    normalization: NormalizationSetting | Normalization = "unit",
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    classes: list[str] | None = None,
) -> Dataset:
    """Loads a dataset by registered name, `.npz` path or image-folder path, held as uint8.

    Args:
        name_or_path: "fashion_mnist", "mnist", "cifar10", "cifar100", a `.npz` file or a folder.
        val_fraction: share of the training images held out for validation.
        train_limit: keep at most this many training images (a stratified-enough random subset).
        test_limit: keep at most this many test images.
        seed: seeds the subset and split choice.
        normalization: how pixels become the model's input (see `edgecomp.data.normalization`).
        size: (H, W) every image is resized to; None keeps the dataset's (a folder: its most common).
        channels: 1 or 3 (grayscale or RGB); None keeps the dataset's.
        classes: an image folder's class names in the model's output order; None: alphabetical.

    Raises:
        DatasetError: the data cannot be found or read, or the normalisation does not fit its
            channels. UsageError: an unknown dataset name.
    """

    normalization = parse_normalization(normalization)
    path = Path(name_or_path).expanduser()
    if classes is not None and not path.is_dir():
        raise DatasetError(f"dataset.classes sets the class order of an image folder; {name_or_path} is not a "
                           "folder and its labels have a fixed order: drop dataset.classes.")
    if path.suffix == ".npz" or path.is_dir():
        if not path.exists():
            raise DatasetError(f"dataset file {path} does not exist.")
        raw = load_npz(path) if path.suffix == ".npz" else load_image_folder(path, size, channels, seed=seed, classes=classes)
        name = path.name
    elif "/" in name_or_path or path.suffix:
        raise DatasetError(f"dataset {name_or_path!r} does not exist; give a .npz file or an image folder.")
    else:
        raw = DATASETS.get(name_or_path)()  # an unknown name raises with a did-you-mean
        name = name_or_path
    data = _finish(raw, name, val_fraction, train_limit, test_limit, seed, normalization, size, channels)
    normalization.check_channels(data.input_shape[-1])
    return data

def _as_uint8(images: np.ndarray, name: str) -> np.ndarray:
    """Loaders give 0..255 pixels; a float array must hold whole values in that range."""
    if images.dtype == np.uint8:
        return images
    if images.size and (images.min() < 0 or images.max() > 255 or not np.array_equal(images, np.round(images))):
        raise DatasetError(f"dataset {name}: images must be 0..255 pixel values (uint8); got {images.dtype} in "
                           f"[{images.min():.3g}, {images.max():.3g}]. Save the raw pixels; set "
                           "dataset.normalization for the model's input range.")
    return images.astype(np.uint8)

def shuffled(images: np.ndarray, labels: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """images[order], labels[order]; a full permutation of a writable array is done in place
    (following the permutation's cycles one image at a time), so a large folder is never copied."""
    if len(order) < len(images) or not images.flags.writeable:
        return images[order], labels[order]
    done = np.zeros(len(order), bool)
    for start in range(len(order)):
        if done[start]:
            continue
        saved, position = images[start].copy(), start
        while True:  # new[position] = old[order[position]] around the cycle through `start`
            done[position] = True
            source = order[position]
            if source == start:
                images[position] = saved
                break
            images[position] = images[source]
            position = source
    return images, labels[order]

def _finish(raw: RawSplits, name: str, val_fraction: float, train_limit: int | None, test_limit: int | None,
            seed: int, normalization: Normalization, size: tuple[int, int] | None,
            channels: int | None) -> Dataset:
    if len(raw.x_train) != len(raw.y_train) or len(raw.x_test) != len(raw.y_test):
        raise DatasetError(f"dataset {name}: images and labels differ in count.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(raw.x_train))
    x_train, y_train = shuffled(raw.x_train, raw.y_train, order[:train_limit] if train_limit else order)
    n_val = max(1, int(len(y_train) * val_fraction))
    x_test, y_test = raw.x_test, raw.y_test
    if test_limit and test_limit < len(x_test):
        keep = rng.permutation(len(x_test))[:test_limit]
        x_test, y_test = x_test[keep], y_test[keep]

    def pixels(images: np.ndarray) -> np.ndarray:  # subset first: only kept images are resized
        return resize_pixels(_as_uint8(images, name), size, channels)

    return Dataset(
        name=name,
        train=Split(pixels(x_train[n_val:]), y_train[n_val:]),
        val=Split(pixels(x_train[:n_val]), y_train[:n_val]),
        test=Split(pixels(x_test), y_test),
        class_names=raw.class_names, source=raw.source, normalization=normalization,
        skipped=list(raw.skipped), notes=list(raw.notes),
    )

def data_fingerprint(data) -> dict:
    """The dataset's description plus the SHA-256 of every split's pixels and labels: two folders
    with the same name but other images never share a key."""
    sha = hashlib.sha256()
    for split in SPLITS:
        for array in (data.pixels(split), data.labels(split)):
            sha.update(str((array.dtype, array.shape)).encode())
            sha.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    described = {k: v for k, v in data.describe().items() if k != "held_in_memory"}
    return {"describe": described, "content_sha256": sha.hexdigest()}
