"""BYOT's attention-based shallow exits on 600 real Fashion-MNIST images, 1 epoch: the attention
modules exist in the training model only, and what the stage exports computes what it trained."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecomp.compress.context import RunContext
from edgecomp.compress.distill.stage import run_distill
from edgecomp.core.errors import ConfigError
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.stage_settings import DistillConfig

EXITS = ["stage1_pool", "stage2_pool"]


@pytest.fixture(scope="module")
def fmnist_600():
    from edgecomp.data.dataset import load_dataset

    return load_dataset("fashion_mnist", train_limit=600, test_limit=200, seed=0)


def fresh_student(data):
    from edgecomp.core.tfenv import seed_everything
    from edgecomp.models.zoo import build_zoo_model

    seed_everything(0)
    return build_zoo_model("cnn-student", data.input_shape, data.num_classes)


def trained_network(data, **settings):
    from edgecomp.compress.distill.byot import train_byot

    model = fresh_student(data)
    cfg = DistillConfig(method="byot", epochs=1, batch_size=64, exits=EXITS, **settings).resolved()
    network, info = train_byot(model, data, cfg)
    return model, network, info


@pytest.fixture(scope="module")
def attended(fmnist_600):
    """(model, network, info) trained once with the default attention: true (inference only below)."""
    return trained_network(fmnist_600)


def attention_layer_names(model, k: int | None = None) -> set[str]:
    prefix = f"byot_exit{k}_att_" if k else "byot_exit"
    return {layer.name for layer in model.layers if layer.name.startswith(prefix) and "_att_" in layer.name}


@pytest.mark.slow
def test_attention_modules_exist_in_the_training_model_and_not_with_attention_false(attended, fmnist_600):
    from edgecomp.core.tfenv import keras

    _, network, info = attended
    trainer = network.trainer_model()
    for k, exit_layer in enumerate(EXITS, start=1):
        names = attention_layer_names(trainer, k)
        assert {f"byot_exit{k}_att_conv", f"byot_exit{k}_att_deconv", f"byot_exit{k}_att_multiply"} <= names
        multiply = trainer.get_layer(f"byot_exit{k}_att_multiply")
        # The map multiplies the exit's own feature map, elementwise, at its full shape.
        assert isinstance(multiply, keras().layers.Multiply)
        assert multiply.output_shape == trainer.get_layer(exit_layer).output_shape
        assert trainer.get_layer(f"byot_exit{k}_att_sigmoid").output_shape == multiply.output_shape
        # The exit's bottleneck runs on the attended features.
        assert trainer.get_layer(f"byot_exit{k}_conv1").input.name == multiply.output.name
    assert info["attention"] is True and len(info["attention_params"]) == len(EXITS)
    assert all(params > 0 for params in info["attention_params"])
    assert info["trainer_params"] - info["plain_params"] > sum(info["attention_params"])

    _, plain_network, plain_info = trained_network(fmnist_600, attention=False)
    assert attention_layer_names(plain_network.trainer_model()) == set()
    assert plain_info["attention"] is False and plain_info["attention_params"] == []
    assert info["trainer_params"] - plain_info["trainer_params"] == sum(info["attention_params"])


def test_exports_compute_the_training_models_outputs(attended, fmnist_600, tmp_path):
    """Full network = the trainer's final logits; truncated at k = exit k's logits, attention included."""
    from edgecomp.exporters.parity import run_tflite
    from edgecomp.exporters.tflite import keras_to_tflite

    model, network, _ = attended
    images = fmnist_600.images("test", 32)
    outputs = network.trainer_model()(images, training=False)  # [final, final_features, exit1, exit2, ...]
    assert attention_layer_names(model) == set()
    np.testing.assert_allclose(model(images, training=False).numpy(), outputs[0].numpy(), atol=1e-5)
    for k in range(1, len(EXITS) + 1):
        truncated = network.truncated(k)
        # Exit k's attention module is part of the shallow classifier; no other exit's is.
        assert attention_layer_names(truncated) == attention_layer_names(truncated, k) != set()
        exit_logits = outputs[1 + k].numpy()  # (B, K)
        np.testing.assert_allclose(truncated(images, training=False).numpy(), exit_logits, atol=1e-5)
        assert not np.allclose(exit_logits, outputs[0].numpy(), atol=1e-3)  # a different output, really compared
    path = keras_to_tflite(network.truncated(2), tmp_path / "exit2.tflite", "float32")  # Conv2DTranspose, crop
    np.testing.assert_allclose(run_tflite(path, images), network.truncated(2).predict(images, verbose=0), atol=1e-3)


@pytest.mark.slow
def test_full_network_export_has_the_original_parameters_and_layer_types(fmnist_600, tmp_path):
    model = fresh_student(fmnist_600)
    reference = fresh_student(fmnist_600)
    plan = parse_plan({"model": "cnn-student", "stages": [{"stage": "distill", "method": "byot", "epochs": 1,
                                                            "batch_size": 64}]})
    ctx = RunContext(plan=plan, data=fmnist_600, run_dir=tmp_path, model=model)
    info = run_distill(ctx, plan.stages[0])
    assert info["settings"]["attention"] is True and len(info["attention_params"]) == len(info["exits"])
    assert ctx.model.count_params() == reference.count_params()
    assert [type(layer) for layer in ctx.model.layers] == [type(layer) for layer in reference.layers]
    assert not any(layer.name.startswith("byot_") for layer in ctx.model.layers)


def test_attention_on_another_method_is_refused_when_the_plan_is_read(tmp_path):
    with pytest.raises(ConfigError, match="method 'kd' does not use attention"):
        parse_plan({"model": "cnn-teacher", "stages": [{"stage": "distill", "method": "kd", "attention": True}]})

    from edgecomp.cli.main import app

    plan = tmp_path / "plan.yaml"
    plan.write_text("model: cnn-teacher\nstages:\n  - {stage: distill, method: kd, attention: false}\n")
    result = CliRunner().invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "does not use attention" in result.stderr
    assert not (tmp_path / "run").exists()
