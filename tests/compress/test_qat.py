"""QAT on real architectures (BN anywhere, depthwise, residual add, ReLU6, concat, GAP), per-layer
float fallback, int8 conversion, and the prune-preserving scheme keeping a pruned model's zeros."""

import numpy as np
import pytest

from edgecomp.compress.fitting import fit
from edgecomp.compress.qat import (
    QatConfig,
    announce_fallbacks,
    build_qat_model,
    mask_keeping_callback,
    plan_fallbacks,
    sparsity_masks,
)
from edgecomp.core.tfenv import keras, seed_everything, tfmot
from edgecomp.exporters.parity import check_parity
from edgecomp.exporters.tflite import keras_to_tflite


def real_world_model():
    """A MobileNet-ish functional model with the layouts tfmot's quantize_model refuses."""
    layers = keras().layers
    inputs = keras().Input((28, 28, 1))
    x = layers.BatchNormalization(name="bn_input")(inputs)  # BN not after a conv
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    y = layers.BatchNormalization(name="dw_bn")(y)
    y = layers.ReLU(6.0, name="dw_relu6")(y)
    y = layers.Conv2D(8, 1, use_bias=False, name="pw")(y)
    y = layers.BatchNormalization(name="pw_bn")(y)
    x = layers.Add(name="residual")([x, y])
    z = layers.Conv2D(8, 1, activation="relu6", name="branch_relu6")(x)
    x = layers.Concatenate(name="concat")([x, z])
    x = layers.ReLU(name="relu")(x)
    x = layers.BatchNormalization(name="bn_after_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(10, name="logits")(x)
    return keras().Model(inputs, outputs, name="real_world")


def test_float_layers_are_one_summary_line_unless_verbose(monkeypatch, capsys):
    """A MobileNetV3 printed ~60 `layer ... stays float` lines; now one (each is in the report)."""
    model = real_world_model()
    fallbacks = plan_fallbacks(model)
    monkeypatch.setenv("EDGECOMP_VERBOSE", "0")
    announce_fallbacks(fallbacks, model)
    quiet = capsys.readouterr().err.strip().splitlines()
    assert len(quiet) == 1 and f"{len(fallbacks)} layer(s) stay float" in quiet[0], quiet
    assert "BatchNormalization" in quiet[0] and "float_fallback_layers" in quiet[0]
    monkeypatch.setenv("EDGECOMP_VERBOSE", "1")
    announce_fallbacks(fallbacks, model)
    verbose = capsys.readouterr().err.strip().splitlines()
    assert [line for line in verbose if "stays float" in line] and len(verbose) >= len(fallbacks)


def test_fallback_plan_names_only_the_unquantizable_layers():
    fallbacks = plan_fallbacks(real_world_model())
    assert set(fallbacks) == {"bn_input", "bn_after_relu", "branch_relu6"}
    assert "BatchNormalization" in fallbacks["bn_input"] and "relu6" in fallbacks["branch_relu6"]


def test_tfmot_alone_refuses_the_model():
    """The reason the per-layer fallback exists."""
    with pytest.raises(RuntimeError, match="bn_input"):
        tfmot().quantization.keras.quantize_model(real_world_model())


def test_qat_trains_and_converts_a_real_architecture(fmnist_small, tmp_path):
    seed_everything(0)
    model = real_world_model()
    qat_model, fallbacks = build_qat_model(model)
    assert "bn_input" in fallbacks
    wrapped = {type(layer).__name__ for layer in qat_model.layers}
    assert "QuantizeWrapperV2" in wrapped
    history = fit(qat_model, fmnist_small, epochs=1, batch_size=64, learning_rate=2e-3, label="qat-test")
    assert np.isfinite(history["history"]["loss"]).all()
    path = keras_to_tflite(qat_model, tmp_path / "qat.tflite", "qat_int8", fmnist_small.images("train", 100))
    from ai_edge_litert.interpreter import Interpreter

    from edgecomp.exporters.litert_internals import ops_details

    interpreter = Interpreter(model_path=str(path))
    ops = {op.op_name for op in ops_details(interpreter)}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "CONCATENATION"} <= ops
    conv_weights = [d for d in interpreter.get_tensor_details() if len(d["shape"]) == 4 and d["shape"][0] == 8]
    assert conv_weights and all(d["dtype"].__name__ == "int8" for d in conv_weights)
    images = fmnist_small.images("test", 200)
    keras_logits = qat_model.predict(images, verbose=0)  # (N, 10)
    parity = check_parity(path, "qat_int8", keras_logits, images)
    # This guards against a broken conversion (which agrees on ~10-30% of images), not against
    # quantization noise: after one epoch on 1,800 images many predictions are near-ties, and the
    # layers kept float in QAT are calibrated to int8 only at conversion. Measured over seeds 0-5
    # and test orders, agreement ranged 0.76-1.0 (0.985 at seed 0 run alone).
    assert parity["top1_agreement"] >= 0.7, parity
    assert parity["mean_abs_diff"] < 0.1 * float(keras_logits.max() - keras_logits.min()), parity


@pytest.mark.slow
def test_a_qat_file_as_accurate_as_its_keras_model_passes_parity(fmnist_small, tmp_path):
    """The user's case of issue 22 on a real low-margin model: the MobileNet-ish net trained 4 epochs
    (about 35% accurate, many near-ties), QAT 1 epoch, its qat_int8 file against the Keras QAT model.
    Measured at seeds 0 and 1: top-1 agreement 0.938 and 0.956 (below qat_int8's 0.97), accuracy
    36.0% vs 36.0% and 34.8% vs 34.0%. Judged by accuracy it passes; by agreement alone it would not."""
    from edgecomp.compress.bn_stats import reestimate_bn_statistics

    seed_everything(0)
    model = real_world_model()
    fit(model, fmnist_small, epochs=4, batch_size=64, learning_rate=3e-3, label="float")
    reestimate_bn_statistics(model, fmnist_small)
    qat_model, _ = build_qat_model(model)
    fit(qat_model, fmnist_small, epochs=1, batch_size=64, learning_rate=1e-4, label="qat")
    path = keras_to_tflite(qat_model, tmp_path / "qat.tflite", "qat_int8", fmnist_small.images("train", 100))
    images, labels = fmnist_small.images("test", 500), fmnist_small.labels("test", 500)
    keras_logits = qat_model.predict(images, verbose=0)
    parity = check_parity(path, "qat_int8", keras_logits, images, labels)
    assert parity["top1_agreement"] < 0.97, f"not the low-agreement case this test is about: {parity}"
    assert parity["passed"] and parity["decided_by"] == "accuracy", parity
    # As accurate as its Keras model: measured drops 0.0 and -0.008 at seeds 0 and 1, and -0.012 (6 of 500
    # images in the file's favour) in one CI worker, where CPU training threads are not bit-reproducible.
    assert -0.02 <= parity["accuracy_drop"] <= 0.01
    assert not check_parity(path, "qat_int8", keras_logits, images)["passed"]  # agreement alone fails it


def test_qat_stage_keeps_the_float_model_for_float_exports(tiny_model, fmnist_small, tmp_path):
    from edgecomp.compress.context import RunContext
    from edgecomp.compress.qat import run_qat
    from edgecomp.plan.plan import Plan
    from edgecomp.run.quant_artifacts import export_source_model

    ctx = RunContext(plan=Plan(stages=[]), data=fmnist_small, run_dir=tmp_path, model=tiny_model)
    info = run_qat(ctx, QatConfig(epochs=1, batch_size=128, learning_rate=1e-4))
    assert info["scheme"] == "default_8bit" and info["float_fallback_layers"] == {}
    assert export_source_model(ctx, "float32") is tiny_model
    assert export_source_model(ctx, "qat_int8") is ctx.model is not tiny_model
    assert "qat_int8" in ctx.ptq_modes


def _int8_weight_sparsity(path) -> float:
    """Fraction of zeros over the int8 conv/dense weight tensors (>= 100 values) of a .tflite."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    zeros = total = 0
    for detail in interpreter.get_tensor_details():
        if detail["dtype"].__name__ == "int8" and len(detail["shape"]) in (2, 4) and np.prod(detail["shape"]) >= 100:
            try:
                values = interpreter.get_tensor(detail["index"])
            except ValueError:
                continue  # activations have no data before invoke
            zeros += int(np.sum(values == 0))
            total += values.size
    return zeros / total


def test_prune_preserving_qat_keeps_the_zeros(tiny_model, fmnist_small, tmp_path):
    sparsity = tfmot().sparsity.keras
    model = keras().models.clone_model(tiny_model)
    model.set_weights(tiny_model.get_weights())
    pruned = sparsity.prune_low_magnitude(model, pruning_schedule=sparsity.ConstantSparsity(0.6, begin_step=0, frequency=1))
    fit(pruned, fmnist_small, epochs=1, batch_size=128, learning_rate=1e-3, label="prune",
        extra_callbacks=[sparsity.UpdatePruningStep()])
    stripped = sparsity.strip_pruning(pruned)
    qat_model, _ = build_qat_model(stripped, prune_preserving=True)
    callback, masked = mask_keeping_callback(qat_model, sparsity_masks(stripped))
    assert "fc1/kernel:0" in masked
    fit(qat_model, fmnist_small, epochs=1, batch_size=128, learning_rate=1e-3, label="pqat",
        extra_callbacks=[callback])
    path = keras_to_tflite(qat_model, tmp_path / "pqat.tflite", "qat_int8", fmnist_small.images("train", 50))
    assert _int8_weight_sparsity(path) >= 0.5


def test_conv_bn_still_folds_after_strip_pruning(tiny_model):
    """strip_pruning reuses layer objects, so a conv also belongs to the wrapped model's graph;
    the fold check must read this model's own graph, or every BN of a pruned model stays float."""
    from edgecomp.compress.qat import plan_fallbacks
    from edgecomp.core.tfenv import keras, tfmot

    sparsity = tfmot().sparsity.keras
    wrapped = sparsity.prune_low_magnitude(
        keras().models.clone_model(tiny_model),
        pruning_schedule=sparsity.ConstantSparsity(0.5, begin_step=0))
    stripped = sparsity.strip_pruning(wrapped)
    assert not [name for name in plan_fallbacks(stripped) if "_bn" in name]
