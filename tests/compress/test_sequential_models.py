"""Sequential models, the classic Keras 2 kind (the TF tutorial's Fashion-MNIST convnet), through
`student: auto` and structured pruning: saved as tf-keras `.h5` and `.keras`, with and without an
explicit InputLayer, and a Keras 3 `Sequential`.

A Sequential's config lists an InputLayer that `model.layers` does not hold; reading its graph
from the config once crashed both (`KeyError: 'input_1'` in `channel_groups.graph_links`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgecomp.compress.context import RunContext
from edgecomp.compress.distill.auto_student import narrow_teacher
from edgecomp.compress.prune import run_prune
from edgecomp.models.user_model import prepare_user_model
from edgecomp.plan.plan import parse_plan

runner = CliRunner()


def tf_keras_convnet(explicit_input: bool, seed: int = 0):
    """The tutorial's convnet, small: [InputLayer], Conv2D + MaxPooling twice, Flatten, Dense, Dropout, Dense 10."""
    from edgecomp.core.tfenv import keras, seed_everything

    seed_everything(seed)
    layers = keras().layers
    first = [layers.InputLayer(input_shape=(28, 28, 1))] if explicit_input else []
    shape = {} if explicit_input else {"input_shape": (28, 28, 1)}
    return keras().Sequential(first + [
        layers.Conv2D(8, 5, padding="same", activation="relu", name="conv1", **shape), layers.MaxPooling2D(),
        layers.Conv2D(16, 5, padding="same", activation="relu", name="conv2"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(64, activation="relu", name="hidden"), layers.Dropout(0.4),
        layers.Dense(10, name="logits")])


def keras3_convnet():
    import keras

    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(8, 5, padding="same", activation="relu", name="conv1"), layers.MaxPooling2D(),
        layers.Conv2D(16, 5, padding="same", activation="relu", name="conv2"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(64, activation="relu", name="hidden"), layers.Dropout(0.4),
        layers.Dense(10, name="logits")])


VARIANTS = {
    "tf_keras_h5_input_layer": (lambda: tf_keras_convnet(True), "h5"),
    "tf_keras_h5_input_shape": (lambda: tf_keras_convnet(False), "h5"),
    "tf_keras_keras_input_layer": (lambda: tf_keras_convnet(True), "keras"),
    "tf_keras_keras_input_shape": (lambda: tf_keras_convnet(False), "keras"),
    "keras3_sequential": (keras3_convnet, "keras"),
}


def saved(tmp_path, variant: str) -> str:
    make, suffix = VARIANTS[variant]
    path = tmp_path / f"convnet.{suffix}"
    make().save(path)
    return str(path)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_sequential_model_goes_through_auto_student_and_structured_pruning(variant, fmnist_small, tmp_path):
    path = saved(tmp_path, variant)
    plan = parse_plan({"model": path, "stages": [
        {"stage": "train"}, {"stage": "prune", "method": "structured", "sparsity": 0.5, "epochs": 1}]})
    model, _ = prepare_user_model(path, plan, fmnist_small)
    student, info = narrow_teacher(model, fmnist_small, 0.5)
    assert info["filters"]["conv2"] == {"before": 16, "after": 8}
    assert info["student_params"] < info["teacher_params"]
    assert student.predict(fmnist_small.images("test", 4), verbose=0).shape == (4, 10)
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path)
    ctx.model = model
    pruned_info = run_prune(ctx, plan.stages[1])
    assert ctx.model.count_params() < model.count_params(), pruned_info
    assert np.isfinite(ctx.model.predict(fmnist_small.images("test", 4), verbose=0)).all()


@pytest.mark.slow
def test_the_keras2_tutorial_convnet_h5_builds_with_the_default_chain(fmnist_small, tmp_path):
    """`edgecomp build --model convnet.h5` (the issue's crash), trained briefly so that the model is
    meaningful; the train stage loads it as is, distil into auto, structured pruning, QAT, export."""
    from edgecomp.cli.main import app
    from edgecomp.compress.fitting import fit

    model = tf_keras_convnet(True)
    fit(model, fmnist_small, 1, 64, 2e-3, "tutorial", seed=0)
    model.save(tmp_path / "convnet.h5")
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""name: convnet
model: {tmp_path / 'convnet.h5'}
dataset: {{name: fashion_mnist, train_limit: 600, test_limit: 150}}
export: {{formats: [tflite], parity_samples: 100}}
bench: {{warmup: 2, min_runs: 10, min_time_s: 0, accuracy_samples: 100}}
stages:
  - {{stage: train}}
  - {{stage: distill, method: kd, epochs: 1, batch_size: 64}}
  - {{stage: prune, method: structured, sparsity: 0.5, epochs: 1, batch_size: 64}}
  - {{stage: qat, epochs: 1, batch_size: 64}}
""")
    result = runner.invoke(app, ["build", "--config", str(plan), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    train, distill, prune, _ = (stage["info"] for stage in report["stages"])
    assert train["model"].startswith("loaded as is") and "epochs" not in train.get("history", {})
    assert "Your model file: loaded as is" in (tmp_path / "run" / "report.md").read_text()
    assert distill["auto_student"]["student_params"] < distill["auto_student"]["teacher_params"]
    assert report["keras"]["params"] < distill["auto_student"]["student_params"]
    statuses = {a["precision"]: a["status"] for a in report["artifacts"] if a.get("role") is None}
    assert statuses["float32"] == "ok" and statuses["qat_int8"] in {"ok", "parity_failed"}, report["artifacts"]
