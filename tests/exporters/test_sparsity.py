"""Sparsity read back from exported .tflite files matches the pruned Keras model's."""

from __future__ import annotations

import numpy as np
import pytest

from edgecomp.core.errors import ExportError
from edgecomp.exporters.sparsity import tflite_sparsity


@pytest.fixture(scope="module")
def pruned_tiny(tiny_model, fmnist_small):
    from edgecomp.compress.prune import PruneConfig, prune_model

    model, _ = prune_model(tiny_model, PruneConfig(method="local", sparsity=0.6, epochs=1, batch_size=64),
                           fmnist_small)
    return model


def test_float32_tflite_sparsity_equals_keras(pruned_tiny, tmp_path):
    from edgecomp.compress.prune import kernel_sparsity
    from edgecomp.exporters.tflite import keras_to_tflite

    path = keras_to_tflite(pruned_tiny, tmp_path / "pruned.tflite", "float32")
    keras_side = kernel_sparsity(pruned_tiny)
    file_side = tflite_sparsity(path)
    assert set(file_side["layers"]) == set(keras_side["layers"])
    for name, layer in keras_side["layers"].items():
        assert file_side["layers"][name]["weights"] == layer["weights"]
        assert file_side["layers"][name]["sparsity"] == layer["sparsity"], name
    assert file_side["overall"] == keras_side["overall"]
    assert file_side["overall"] > 0.5


def test_sparse_encoded_tflite_is_smaller_and_reads_the_same(pruned_tiny, tmp_path):
    """TFLite's EXPERIMENTAL_SPARSITY stores only non-zeros (DENSIFY at load); the count must not change."""
    from edgecomp.compress.prune import kernel_sparsity
    from edgecomp.core.tfenv import tf
    from edgecomp.exporters.tflite import keras_to_tflite

    dense_path = keras_to_tflite(pruned_tiny, tmp_path / "dense.tflite", "float32")
    converter = tf().lite.TFLiteConverter.from_keras_model(pruned_tiny)
    converter.optimizations = [tf().lite.Optimize.EXPERIMENTAL_SPARSITY]
    sparse_path = tmp_path / "sparse.tflite"
    sparse_path.write_bytes(converter.convert())
    assert sparse_path.stat().st_size < dense_path.stat().st_size
    report = tflite_sparsity(sparse_path)
    assert report["layers"]["fc1"]["storage"] == "sparse"
    assert report["overall"] == pytest.approx(kernel_sparsity(pruned_tiny)["overall"], abs=1e-9)


def test_int8_export_keeps_the_zeros(pruned_tiny, fmnist_small, tmp_path):
    from edgecomp.compress.prune import kernel_sparsity
    from edgecomp.exporters.tflite import keras_to_tflite

    path = keras_to_tflite(pruned_tiny, tmp_path / "pruned_int8.tflite", "int8", fmnist_small.images("train", 50))
    file_side = tflite_sparsity(path)
    for name, layer in kernel_sparsity(pruned_tiny)["layers"].items():
        assert file_side["layers"][name]["dtype"] == "int8"
        # Quantization can round more small weights to zero, never bring a zero back.
        assert file_side["layers"][name]["sparsity"] >= layer["sparsity"]


def test_unpruned_model_reports_almost_no_zeros(tiny_tflite):
    report = tflite_sparsity(tiny_tflite["float32"])
    assert report["weights"] == 36 + 288 + 6272 + 160
    assert report["overall"] < 0.01


def test_export_artifacts_records_sparsity(pruned_tiny, fmnist_small, tmp_path):
    from edgecomp.compress.context import RunContext
    from edgecomp.plan.plan import parse_plan
    from edgecomp.run.artifacts import export_artifacts

    plan = parse_plan({"model": "cnn-tiny", "export": {"formats": ["tflite"], "parity_samples": 50}})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=pruned_tiny)
    records = export_artifacts(ctx)
    assert [r.status for r in records] == ["ok"] * len(records)
    assert records[0].sparsity["overall"] > 0.5


def test_unreadable_file_is_an_export_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(np.zeros(64, np.uint8).tobytes())
    with pytest.raises(ExportError, match="cannot read weights"):
        tflite_sparsity(bad)
