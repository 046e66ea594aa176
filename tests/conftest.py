"""Shared fixtures: a small real Fashion-MNIST subset, a tiny trained model and its exports, built once per session."""

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
    from edgecomp.data.dataset import load_dataset

    return load_dataset("fashion_mnist", train_limit=2000, test_limit=500, seed=0)


@pytest.fixture(scope="session")
def tiny_model(fmnist_small):
    """The zoo's smallest CNN, trained for three epochs on the small subset, BatchNorm statistics
    re-estimated as every training stage does (logits out). One epoch left a near-chance model whose
    top-1 margins (median 0.06) let int8 rounding flip a tenth of its predictions: parity tests flaked."""
    from edgecomp.compress.bn_stats import reestimate_bn_statistics
    from edgecomp.compress.fitting import fit
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(0)
    model = build_zoo_model("cnn-tiny", fmnist_small.input_shape, fmnist_small.num_classes)
    fit(model, fmnist_small, epochs=3, batch_size=64, learning_rate=3e-3, label="test")
    reestimate_bn_statistics(model, fmnist_small)
    return model


@pytest.fixture(scope="session")
def tiny_tflite(tiny_model, fmnist_small, tmp_path_factory):
    """float32 and int8 .tflite files of the tiny model, int8 calibrated on real training images
    (uniform noise left activation ranges that cost the int8 file 8 points in a full-suite run)."""
    from edgecomp.exporters.tflite import keras_to_tflite

    folder = tmp_path_factory.mktemp("tflite")
    calibration = fmnist_small.images("train", 100)
    return {
        "float32": keras_to_tflite(tiny_model, folder / "tiny_float32.tflite", "float32"),
        "int8": keras_to_tflite(tiny_model, folder / "tiny_int8.tflite", "int8", calibration),
    }


@pytest.fixture()
def sample_npz(fmnist_small, tmp_path):
    from edgecomp.run.artifacts import write_sample

    return write_sample(fmnist_small, tmp_path / "sample.npz", limit=200)


TFLITE_PRECISIONS = ["float32", "float16", "dynamic", "int8", "int8_io", "uint8_io"]


@pytest.fixture(scope="session")
def precision_files(tiny_model, fmnist_small, tmp_path_factory):
    """{label: path} for each TFLite precision, the float ONNX ("onnx_float32") and its QDQ int8 ("onnx_int8")."""
    from edgecomp.exporters.onnx import keras_to_onnx
    from edgecomp.exporters.onnx_quant import onnx_to_onnx_int8
    from edgecomp.exporters.tflite import keras_to_tflite

    folder = tmp_path_factory.mktemp("precisions")
    calibration = fmnist_small.images("train", 64)
    files = {p: keras_to_tflite(tiny_model, folder / f"tiny_{p}.tflite", p, calibration_images=calibration)
             for p in TFLITE_PRECISIONS}
    files["onnx_float32"] = keras_to_onnx(tiny_model, folder / "tiny_float32.onnx")
    files["onnx_int8"] = onnx_to_onnx_int8(files["onnx_float32"], folder / "tiny_int8.onnx", calibration)
    return files


# Runs under .venv-tflite-runtime (tflite-support 0.4.4, numpy<2): LiteRT's official metadata reader.
_READ_TFLITE_METADATA = r"""
import json, sys
from tflite_support import metadata
displayer = metadata.MetadataDisplayer.with_model_file(sys.argv[1])
packed = displayer.get_packed_associated_file_list()
print(json.dumps({"metadata": json.loads(displayer.get_metadata_json()), "packed_files": packed,
                  "labels": displayer.get_associated_file_buffer("labels.txt").decode() if packed else None}))
"""


@pytest.fixture(scope="session")
def read_tflite_metadata():
    """A function path -> {metadata, packed_files, labels} read by tflite-support's MetadataDisplayer.

    Skips when .venv-tflite-runtime (scripts/make-tflite-runtime-env.sh) has no tflite-support.
    """
    import json
    import subprocess

    from edgecomp.exporters.tflite_runtime_check import runtime_python

    python = runtime_python()
    if python is None or subprocess.run([str(python), "-c", "import tflite_support"],
                                        capture_output=True).returncode != 0:
        pytest.skip("tflite-support missing from .venv-tflite-runtime; run scripts/make-tflite-runtime-env.sh")

    def read(path) -> dict:
        proc = subprocess.run([str(python), "-c", _READ_TFLITE_METADATA, str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return read


@pytest.fixture(scope="session")
def fmnist96_npz(fmnist_small, tmp_path_factory):
    """A 96x96x3 `.npz` dataset: real Fashion-MNIST images resized (bilinear) and stacked to RGB,
    the input size of a transfer-learning backbone. 360 training and 80 test images, uint8."""
    from PIL import Image

    def resize(pixels: np.ndarray) -> np.ndarray:  # (N, 28, 28, 1) uint8 -> (N, 96, 96, 3) uint8
        pixels = pixels[..., 0]
        big = np.stack([np.asarray(Image.fromarray(p).resize((96, 96), Image.BILINEAR)) for p in pixels])
        return np.repeat(big[..., None], 3, axis=-1)

    path = tmp_path_factory.mktemp("fmnist96") / "fmnist96.npz"
    np.savez(path, x_train=resize(fmnist_small.pixels("train", 360)), y_train=fmnist_small.labels("train", 360),
             x_test=resize(fmnist_small.pixels("test", 80)), y_test=fmnist_small.labels("test", 80),
             class_names=np.asarray(fmnist_small.class_names))
    return path


@pytest.fixture(scope="session")
def fmnist96(fmnist96_npz):
    from edgecomp.data.dataset import load_dataset

    return load_dataset(str(fmnist96_npz), seed=0)


def keras3_backbone_classifier(backbone: str, seed: int = 0):
    """A Keras 3 (`import keras`) transfer-learning classifier: a `keras.applications` backbone
    (weights=None, 96x96x3) called as a nested sub-model, then pooling, dropout and a Dense head.

    BatchNormalization statistics are set to random values: an untrained backbone with the
    initial statistics squashes every output to ~1e-10, which would make any output comparison pass.
    """
    import keras

    builders = {
        "MobileNetV2": lambda: keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                                              include_top=False),
        "MobileNetV3Small": lambda: keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), weights=None,
                                                                        include_top=False),
        "EfficientNetB0": lambda: keras.applications.EfficientNetB0(input_shape=(96, 96, 3), weights=None,
                                                                    include_top=False),
    }
    keras.utils.set_random_seed(seed)
    base = builders[backbone]()
    rng = np.random.default_rng(seed)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.2, channels),
                               rng.normal(0, 0.2, channels), rng.uniform(0.5, 1.5, channels)])
    inputs = keras.Input((96, 96, 3))
    features = base(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    outputs = keras.layers.Dense(10, name="logits")(keras.layers.Dropout(0.2, name="head_dropout")(pooled))
    return keras.Model(inputs, outputs, name=f"{backbone.lower()}_classifier")


@pytest.fixture(scope="session")
def mobilenetv2_keras3_file(tmp_path_factory):
    """A nested Keras 3 MobileNetV2 (alpha 0.35) classifier saved as a `.keras` file."""
    path = tmp_path_factory.mktemp("keras3") / "mobilenetv2.keras"
    keras3_backbone_classifier("MobileNetV2").save(path)
    return path


@pytest.fixture(scope="session")
def keras3_backbone_builder():
    """`keras3_backbone_classifier`, for tests outside this file (conftest is not importable)."""
    return keras3_backbone_classifier


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
