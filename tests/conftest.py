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


TFLITE_PRECISIONS = ["float32", "float16", "dynamic", "int8", "int8_io", "uint8_io"]


@pytest.fixture(scope="session")
def precision_files(tiny_model, fmnist_small, tmp_path_factory):
    """{label: path} for each TFLite precision, the float ONNX ("onnx_float32") and its QDQ int8 ("onnx_int8")."""
    from edgecomp.export.onnx import keras_to_onnx
    from edgecomp.export.onnx_quant import onnx_to_onnx_int8
    from edgecomp.export.tflite import keras_to_tflite

    folder = tmp_path_factory.mktemp("precisions")
    calibration = fmnist_small.x_train[:64]
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

    from edgecomp.export.tflite_runtime_check import runtime_python

    python = runtime_python()
    if python is None or subprocess.run([str(python), "-c", "import tflite_support"],
                                        capture_output=True).returncode != 0:
        pytest.skip("tflite-support missing from .venv-tflite-runtime; run scripts/make-tflite-runtime-env.sh")

    def read(path) -> dict:
        proc = subprocess.run([str(python), "-c", _READ_TFLITE_METADATA, str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return read
