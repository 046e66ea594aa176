"""Each precision's parity rule trips on a deliberately broken export: with the test labels (the
accuracy rule, for quantized precisions) and without them (top-1 agreement)."""

import numpy as np
import pytest

from edgecomp.core.tfenv import keras
from edgecomp.exporters.parity import check_parity
from edgecomp.exporters.tflite import keras_to_tflite
from edgecomp.plan.precisions import PRECISIONS


@pytest.fixture(scope="module")
def broken_model(tiny_model):
    """The tiny model with its logits layer's weights shuffled: same shapes, wrong answers."""
    model = keras().models.clone_model(tiny_model)
    weights = tiny_model.get_weights()
    rng = np.random.default_rng(0)
    weights[-2] = rng.permutation(weights[-2].ravel()).reshape(weights[-2].shape)
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("precision", ["float32", "float16", "int8", "uint8_io"])
def test_broken_export_fails_parity(precision, broken_model, tiny_model, fmnist_small, tmp_path):
    path = keras_to_tflite(broken_model, tmp_path / f"broken_{precision}.tflite", precision,
                           fmnist_small.images("train", 50))
    images, labels = fmnist_small.images("test", 200), fmnist_small.labels("test", 200)
    keras_outputs = tiny_model.predict(images, verbose=0)
    parity = check_parity(path, precision, keras_outputs, images, labels)
    assert not parity["passed"], parity
    by_accuracy = PRECISIONS.get(precision).parity.max_accuracy_drop_points is not None
    assert parity["decided_by"] == ("accuracy" if by_accuracy else "top1_agreement")
    assert not check_parity(path, precision, keras_outputs, images)["passed"]


def test_pipeline_flags_int8_and_errors_float(tmp_path):
    from edgecomp.run.pipeline import failed_float_parity

    report = {"run_dir": str(tmp_path), "artifacts": [
        {"name": "model_int8.tflite", "status": "parity_failed", "precision": "int8"}]}
    assert failed_float_parity(report) is None  # an int8 below threshold is flagged, not an error
    report["artifacts"].append({"name": "model_float32.tflite", "status": "parity_failed", "precision": "float32"})
    assert "model_float32.tflite" in failed_float_parity(report)
