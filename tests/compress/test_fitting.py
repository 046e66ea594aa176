"""The training loop's best-on-validation restore: the weights of the best epoch are the ones left."""

import numpy as np
import pytest

from edgecomp.compress import fitting
from edgecomp.compress.prune import first_epoch_at_target
from edgecomp.core.errors import ConfigError
from edgecomp.core.tfenv import keras, seed_everything
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.stage_settings import PruneConfig


def tiny_dense():
    inputs = keras().Input((4,))
    return keras().Model(inputs, keras().layers.Dense(3)(inputs))


def set_all(model, value: float) -> None:
    model.set_weights([np.full_like(w, value) for w in model.get_weights()])


def run_epochs(callback, model, val_accuracies, values):
    """Drives the callback as fit does: epoch e ends with the weights set to values[e]."""
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, (accuracy, value) in enumerate(zip(val_accuracies, values)):
        set_all(model, value)
        callback.on_epoch_end(epoch, {"val_accuracy": accuracy})
    callback.on_train_end()


def test_the_best_epochs_weights_are_restored_at_the_end():
    model = tiny_dense()
    callback = fitting.restore_best_callback(model)
    run_epochs(callback, model, [0.5, 0.9, 0.6], [1.0, 2.0, 3.0])
    assert all(np.all(w == 2.0) for w in model.get_weights())
    record = callback.record()
    assert record["epoch"] == 2 and record["value"] == 0.9 and record["restored"]
    assert record["last_epoch"] == 3 and record["last_value"] == 0.6


def test_the_last_epoch_stays_when_it_is_the_best_and_ties_go_to_the_later_epoch():
    model = tiny_dense()
    callback = fitting.restore_best_callback(model)
    run_epochs(callback, model, [0.5, 0.9, 0.9], [1.0, 2.0, 3.0])
    assert all(np.all(w == 3.0) for w in model.get_weights())
    assert callback.record()["epoch"] == 3 and not callback.record()["restored"]


def test_epochs_before_the_first_eligible_one_are_never_kept():
    model = tiny_dense()
    callback = fitting.restore_best_callback(model, first_eligible_epoch=2)  # pruning: target sparsity from epoch 3
    run_epochs(callback, model, [0.99, 0.9, 0.6, 0.7, 0.65], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert all(np.all(w == 4.0) for w in model.get_weights())
    assert callback.record()["epoch"] == 4 and callback.record()["first_eligible_epoch"] == 3


def test_a_real_fit_ends_on_its_best_epoch(tiny_model, fmnist_small):
    """The last epoch is ruined (every weight zeroed as it starts: a ReLU net cannot recover in one
    epoch), so the fit must end on an earlier epoch's weights, validated as the record says."""
    from edgecomp.data.pipeline import predict

    model = keras().models.clone_model(tiny_model)
    model.set_weights(tiny_model.get_weights())

    class RuinLastEpoch(keras().callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                set_all(model, 0.0)

    seed_everything(0)
    callback = fitting.restore_best_callback(model)
    info = fitting.fit(model, fmnist_small, epochs=3, batch_size=64, learning_rate=1e-3, label="test",
                       extra_callbacks=[RuinLastEpoch()], restore_best=callback)
    record = info["best_weights"]
    assert record["restored"] and record["epoch"] in (1, 2)
    assert info["history"]["val_accuracy"][2] < 0.2 < record["value"]
    labels = fmnist_small.labels("val")
    accuracy = float((predict(model, fmnist_small, "val", 256).argmax(1) == labels).mean())
    assert accuracy == pytest.approx(record["value"], abs=1e-6)


def test_pruning_keeps_only_epochs_at_the_target_sparsity():
    polynomial = PruneConfig(method="global", epochs=10)
    # 100 steps: masks every 5 steps, the ramp ends on step 75, inside epoch 8 (steps 71-80).
    assert first_epoch_at_target(polynomial, total_steps=100, steps_per_epoch=10) == 7
    assert first_epoch_at_target(polynomial, total_steps=60, steps_per_epoch=30) == 1
    assert first_epoch_at_target(polynomial.model_copy(update={"schedule": "constant"}), 100, 10) == 0


def test_restore_best_is_on_by_default_and_a_setting_of_the_training_stages():
    plan = parse_plan({})
    distill, prune, qat = plan.stages[1:]
    assert distill.restore_best and prune.restore_best and qat.restore_best
    assert "restore_best" in distill.resolved().used_settings()
    off = parse_plan({"stages": [{"stage": "train"}, {"stage": "qat", "restore_best": False}]})
    assert not off.stages[1].restore_best
    with pytest.raises(ConfigError, match="restore_best"):
        parse_plan({"stages": [{"stage": "train"}, {"stage": "distill", "method": "dlb", "restore_best": True}]})
