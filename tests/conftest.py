"""Shared fixtures: a small real Fashion-MNIST subset and a tiny trained model, built once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Trained-model cache in a temporary folder, so tests never reuse a user's cache."""
    os.environ["EDGECOMP_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def fmnist_small():
    """2,000 real Fashion-MNIST training images and 500 test images."""
    from edgecomp.data import load_dataset

    return load_dataset("fashion_mnist", train_limit=2000, test_limit=500, seed=0)


@pytest.fixture(scope="session")
def tiny_model(fmnist_small):
    """The zoo's smallest CNN, trained for one epoch on the small subset (logits out)."""
    from edgecomp.compress.fitting import fit
    from edgecomp.models.zoo import build_zoo_model
    from edgecomp.tfenv import seed_everything

    seed_everything(0)
    model = build_zoo_model("cnn-tiny", fmnist_small.input_shape, fmnist_small.num_classes)
    fit(model, fmnist_small, epochs=1, batch_size=64, learning_rate=3e-3, label="test")
    return model


@pytest.fixture(scope="session")
def tiny_tflite(tiny_model, tmp_path_factory):
    """float32 and int8 .tflite files of the tiny model."""
    from edgecomp.export.tflite import keras_to_tflite

    folder = tmp_path_factory.mktemp("tflite")
    calibration = np.random.default_rng(0).random((50, 28, 28, 1), dtype=np.float32)
    return {
        "float32": keras_to_tflite(tiny_model, folder / "tiny_float32.tflite", "float32"),
        "int8": keras_to_tflite(tiny_model, folder / "tiny_int8.tflite", "int8", calibration),
    }


@pytest.fixture()
def sample_npz(fmnist_small, tmp_path):
    from edgecomp.artifacts import write_sample

    return write_sample(fmnist_small, tmp_path / "sample.npz", limit=200)


def write_fmnist_folder(folder, count: int, seed: int = 0):
    """An image folder of real Fashion-MNIST test images as RGB JPEG and PNG files of mixed sizes
    (72..128 pixels a side), one sub-folder per class, plus one corrupt file. Returns the corrupt path."""
    from PIL import Image

    from edgecomp.data.dataset import FASHION_MNIST_CLASSES, fashion_mnist

    raw = fashion_mnist()
    rng = np.random.default_rng(seed)
    picks = rng.permutation(len(raw.y_test))[:count]
    for index in picks:
        label = int(raw.y_test[index])
        class_dir = folder / FASHION_MNIST_CLASSES[label].replace("/", "-")
        class_dir.mkdir(parents=True, exist_ok=True)
        height, width = (int(v) for v in rng.integers(72, 129, size=2))
        image = Image.fromarray(raw.x_test[index, ..., 0]).convert("RGB").resize((width, height), Image.BILINEAR)
        suffix = ".jpg" if index % 2 else ".png"
        image.save(class_dir / f"{index}{suffix}", quality=95) if suffix == ".jpg" else image.save(class_dir / f"{index}{suffix}")
    broken = folder / "Bag" / "broken.jpg"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG body")
    return broken


@pytest.fixture(scope="session")
def fmnist_folder(tmp_path_factory):
    """1,250 real Fashion-MNIST images as an RGB JPEG/PNG folder of mixed sizes, with one corrupt file."""
    folder = tmp_path_factory.mktemp("fmnist_folder")
    broken = write_fmnist_folder(folder, 1250)
    return folder, broken
