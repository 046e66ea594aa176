"""Structured pruning and QAT through `keras.applications` backbones used the transfer-learning way
(a nested sub-model of a Keras 3 model): bridged to tf-keras, flattened, pruned through residual
Adds and squeeze-and-excitation Multiplys, then wrapped for QAT with per-layer float fallbacks."""

import numpy as np
import pytest

from edgecomp.compress.context import RunContext
from edgecomp.compress.prune import PruneConfig, prune_model
from edgecomp.compress.qat import build_qat_model
from edgecomp.plan.plan import parse_plan
from edgecomp.run.pipeline import run_stages


@pytest.mark.slow
def test_nested_mobilenetv2_is_flattened_distilled_into_auto_pruned_through_residuals_and_trained_with_qat(
        mobilenetv2_keras3_file, fmnist96_npz, fmnist96, tmp_path):
    # weights=None: at chance, so the sanity stop before compression is a warning here (the path is tested).
    plan = parse_plan({"model": str(mobilenetv2_keras3_file), "dataset": {"name": str(fmnist96_npz)},
                       "sanity": "warn", "stages": [
        {"stage": "train", "epochs": 0},
        {"stage": "distill", "method": "kd", "epochs": 1, "batch_size": 64},  # student unset: auto, width 0.5
        # block_2_project is kept whole, so block_1_project (tied to it at block_2_add) must stay whole too.
        {"stage": "prune", "method": "structured", "sparsity": 0.5, "epochs": 1, "batch_size": 64,
         "skip_layers": ["Conv1", "block_2_project", "logits"]},
        {"stage": "qat", "epochs": 1, "batch_size": 64},
    ]})
    ctx = RunContext(plan=plan, data=fmnist96, run_dir=tmp_path)
    train, distill, prune, qat = (record["info"] for record in run_stages(ctx))

    assert train["keras_version"].split(".")[0] == "3"
    assert train["model_bridge"]["status"] == "bridged"
    assert train["model_bridge"]["parity"]["max_abs_diff"] < 1e-4
    assert train["flatten"]["submodels"] == ["mobilenetv2_0.35_96"]
    assert train["flatten"]["parity"]["passed"]

    auto = distill["auto_student"]
    assert distill["settings"]["student"] == "auto" and auto["width"] == 0.5
    assert auto["student_params"] < 0.5 * auto["teacher_params"]
    expand = auto["filters"]["block_3_expand"]
    assert expand["after"] == expand["before"] - round(expand["before"] * 0.5)

    assert prune["params"]["after"] < 0.6 * prune["params"]["before"]
    assert prune["macs"]["after"] < prune["macs"]["before"]
    assert set(prune["left_whole"]) == {"block_1_project"}
    assert "block_2_project" in prune["left_whole"]["block_1_project"]
    assert "block_2_add" in prune["left_whole"]["block_1_project"]
    residual = {tuple(group["members"]) for group in prune["groups"]}
    assert ("block_3_project", "block_4_project", "block_5_project") in residual
    # Inside each inverted-residual block the expansion conv loses filters (the depthwise follows).
    assert prune["filters"]["block_3_expand"]["after"] < prune["filters"]["block_3_expand"]["before"]
    float_model = ctx.export_inputs.float_model
    assert float_model.output_shape == (None, 10)
    assert float_model.get_layer("block_3_depthwise").get_weights()[0].shape[2] == \
        prune["filters"]["block_3_expand"]["after"]

    assert isinstance(qat["float_fallback_layers"], dict)
    assert np.isfinite(qat["history"]["loss"]).all()
    kinds = {type(layer).__name__ for layer in ctx.model.layers}
    assert "QuantizeWrapperV2" in kinds and "Functional" not in kinds

    from ai_edge_litert.interpreter import Interpreter

    from edgecomp.exporters.litert_internals import ops_details
    from edgecomp.exporters.tflite import keras_to_tflite

    path = keras_to_tflite(ctx.model, tmp_path / "qat.tflite", "qat_int8", fmnist96.images("train", 64))
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    ops = {op.op_name for op in ops_details(interpreter)}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"} <= ops


def _bridged_flat(keras3_model, images):
    from edgecomp.models.bridge import bridge_keras3_model
    from edgecomp.models.flatten import flatten_model

    tf_model = bridge_keras3_model(keras3_model, images).model
    return flatten_model(tf_model, images)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["MobileNetV3Small", "EfficientNetB0"])
def test_se_backbones_prune_structurally_and_wrap_for_qat(backbone, fmnist96, keras3_backbone_builder):
    images = fmnist96.images("test", 16)
    flat = _bridged_flat(keras3_backbone_builder(backbone), images)
    assert flat.parity["passed"]
    pruned, info = prune_model(flat.model, PruneConfig(method="structured", sparsity=0.5, epochs=0), fmnist96)
    assert info["params"]["after"] < 0.5 * info["params"]["before"]
    assert pruned.predict(images, verbose=0).shape == (16, 10)
    # Squeeze-and-excitation: the expansion conv and the excite conv feeding the same Multiply
    # lose the same channels.
    se_groups = [group for group in info["groups"] if any("excite" in m or "se_" in m for m in group["members"])]
    assert se_groups
    for name, reason in info["left_whole"].items():  # every layer left whole says why
        assert reason and name in {layer.name for layer in flat.model.layers}
    qat_model, fallbacks = build_qat_model(pruned)
    assert "QuantizeWrapperV2" in {type(layer).__name__ for layer in qat_model.layers}
    assert all(reason for reason in fallbacks.values())
    assert qat_model.predict(images, verbose=0).shape == (16, 10)


@pytest.mark.slow
def test_qat_of_a_keras3_mobilenetv3small_leaves_no_hard_swish_or_se_op_float_in_the_tflite(
        fmnist96, keras3_backbone_builder, tmp_path):
    """Issue 22: MobileNetV3's hard-swish (x * relu6(x + 3) / 6), hard-sigmoid and squeeze-and-excitation
    gates through edgecomp's qat stage and its qat_int8 export. Read from the file: every op between
    the input's QUANTIZE and the output's DEQUANTIZE computes on int8 tensors (int32 biases), the
    hard-swish and SE ops included: no float island. (QAT leaves those Multiply and Rescaling layers
    unsimulated, tfmot has no quantize config for them; the export's calibration gives them ranges.)"""
    from edgecomp.compress.qat import QatConfig, run_qat
    from edgecomp.exporters.tflite import keras_to_tflite
    from edgecomp.measure.modelfile import read_tflite

    images = fmnist96.images("test", 16)
    flat = _bridged_flat(keras3_backbone_builder("MobileNetV3Small"), images)
    ctx = RunContext(plan=parse_plan({"stages": []}), data=fmnist96, run_dir=tmp_path, model=flat.model)
    run_qat(ctx, QatConfig(epochs=1, batch_size=64, learning_rate=1e-4))
    path = keras_to_tflite(ctx.model, tmp_path / "qat.tflite", "qat_int8", fmnist96.images("train", 64))
    graph = read_tflite(path)

    names = [op.name for op in graph.ops]
    # In the int8 file hard-swish is ADD(x, 3) with its ReLU6 fused, then MUL(x, .) and MUL(., 1/6); the SE
    # gate's hard-sigmoid is ADD + MUL(1/6), then the MUL gating the features: 11 hard-swish and 9 SE
    # blocks give at least 2 * 11 + 2 * 9 MULs (55 measured), and no HARD_SWISH or LOGISTIC op in float.
    assert names.count("MUL") >= 2 * 11 + 2 * 9 and names.count("MEAN") >= 9
    boundary = {"QUANTIZE", "DEQUANTIZE"}
    assert names.count("QUANTIZE") == 1 and names.count("DEQUANTIZE") == 1  # only at the file's edges
    for op in graph.ops:
        if op.name in boundary:
            continue
        types = {graph.tensors[t].dtype for t in op.inputs + op.outputs}
        assert types <= {"int8", "int32"}, (op.name, graph.tensors[op.outputs[0]].name, types)
        assert graph.tensors[op.outputs[0]].dtype == "int8", (op.name, graph.tensors[op.outputs[0]].name)
