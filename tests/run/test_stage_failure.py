"""An unexpected exception inside a stage keeps its traceback and gets a note naming the stage, the
model and the layer; the CLI prints that note before the traceback."""

from __future__ import annotations

import traceback
from pathlib import Path

import numpy as np
import pytest

from edgecomp.compress.context import RunContext
from edgecomp.plan.plan import parse_plan
from edgecomp.run.pipeline import run_stage


def model_with_a_layer_that_cannot_be_copied():
    """A user's custom layer whose constructor takes an array: Keras cannot write its config, so
    structured pruning (which rebuilds every layer from its config) fails inside Keras."""
    from edgecomp.core.tfenv import keras

    layers = keras().layers

    class Scale(layers.Layer):
        def __init__(self, factors, **kwargs):
            super().__init__(**kwargs)
            self.factors = factors

        def call(self, inputs):
            return inputs * self.factors

    inputs = keras().Input((28, 28, 1))
    x = layers.Conv2D(8, 3, name="conv1")(inputs)
    x = Scale(np.ones(1, np.float32), name="doubling")(x)
    x = layers.Conv2D(8, 3, name="conv2")(x)
    return keras().Model(inputs, layers.Dense(10, name="logits")(layers.Flatten()(x)), name="custom_net")


def failed_stage(fmnist_small, tmp_path) -> BaseException:
    plan = parse_plan({"model": str(tmp_path / "custom_net.keras"), "stages": [
        {"stage": "train"}, {"stage": "prune", "method": "structured", "epochs": 0}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path)
    ctx.model = model_with_a_layer_that_cannot_be_copied()
    with pytest.raises(Exception) as caught:
        run_stage(ctx, plan.stages[1], 2)
    return caught.value


def test_a_stage_failure_names_the_stage_the_model_and_the_layer(fmnist_small, tmp_path):
    err = failed_stage(fmnist_small, tmp_path)
    assert isinstance(err, NotImplementedError)  # Keras' own exception, not replaced
    [note] = err.__notes__
    assert "stage 2/2 'prune'" in note and "custom_net.keras" in note and "'custom_net'" in note
    assert "layer doubling (Scale)" in note
    frames = [frame.filename for frame in traceback.extract_tb(err.__traceback__)]
    # The traceback still goes from the stage down to where Keras refused.
    assert "prune.py" in [Path(name).name for name in frames] and "keras" in frames[-1]


def test_the_cli_prints_the_note_before_the_traceback(fmnist_small, tmp_path, capsys):
    from edgecomp.cli.common import handle_errors

    err = failed_stage(fmnist_small, tmp_path)

    @handle_errors
    def command():
        raise err

    with pytest.raises(NotImplementedError):
        command()
    assert "edgecomp failed in stage 2/2 'prune'" in capsys.readouterr().err
