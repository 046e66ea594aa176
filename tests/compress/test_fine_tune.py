"""`teacher_kd`: fine-tuning after pruning, and QAT, learn the train stage's model's outputs."""

import numpy as np
import pytest

from edgecomp.compress.context import RunContext
from edgecomp.compress.prune import prune_model
from edgecomp.core.errors import ConfigError
from edgecomp.core.tfenv import keras, seed_everything
from edgecomp.data.pipeline import predict
from edgecomp.plan.plan import parse_plan
from edgecomp.plan.stage_settings import PruneConfig
from edgecomp.run.pipeline import run_stages


def permuted_teacher(model, shift: int = 3, sharpen: float = 3.0):
    """`model` with its logits rolled by `shift` classes (and scaled by `sharpen`, so its softened
    outputs are not flat): it predicts class (c + shift) % K where `model` predicts c, so a student
    that learns from it is told apart from one that learns the labels."""
    classes = model.output_shape[-1]
    permutation = sharpen * np.roll(np.eye(classes, dtype="float32"), shift, axis=1)  # column c+shift: logit c
    roll = keras().layers.Dense(classes, use_bias=False, trainable=False, name="roll")
    outputs = roll(model.output)
    roll.set_weights([permutation])
    return keras().Model(model.input, outputs, name="rolled_teacher")


def agreement(model, teacher, data) -> float:
    return float((predict(model, data, "test", 256).argmax(1) == predict(teacher, data, "test", 256).argmax(1)).mean())


def test_pruning_with_teacher_kd_learns_the_teachers_outputs_not_the_labels(tiny_model, fmnist_small):
    teacher = permuted_teacher(tiny_model)
    cfg = PruneConfig(method="local", sparsity=0.3, epochs=2, batch_size=64, learning_rate=5e-3, teacher_kd=True)
    seed_everything(0)
    guided, info = prune_model(tiny_model, cfg, fmnist_small, teacher=teacher)
    seed_everything(0)
    on_labels, label_info = prune_model(tiny_model, cfg.model_copy(update={"teacher_kd": False}), fmnist_small)
    assert info["fine_tune"]["teacher_kd"]["teacher"] == "rolled_teacher"
    assert info["fine_tune"]["teacher_kd"]["temperature"] == 4.0 and info["fine_tune"]["teacher_kd"]["alpha"] == 0.9
    assert "teacher_kd" not in label_info["fine_tune"]
    # The rolled teacher disagrees with the labels everywhere it is right, so only KD pulls towards it.
    assert agreement(on_labels, teacher, fmnist_small) < 0.2
    assert agreement(guided, teacher, fmnist_small) > agreement(on_labels, teacher, fmnist_small) + 0.25
    assert info["sparsity"]["overall"] > 0.2  # still pruned


@pytest.mark.slow
def test_a_chain_with_teacher_kd_fine_tunes_on_the_train_stages_model(fmnist_small, tmp_path):
    """prune and qat with teacher_kd reuse the distill stage's cached teacher logits."""
    plan = parse_plan({"model": "cnn-student", "stages": [
        {"stage": "train", "epochs": 1, "batch_size": 64},
        {"stage": "distill", "method": "kd", "student": "cnn-tiny", "epochs": 1, "batch_size": 64},
        {"stage": "prune", "method": "global", "sparsity": 0.5, "epochs": 1, "batch_size": 64, "teacher_kd": True},
        {"stage": "qat", "epochs": 1, "batch_size": 64, "teacher_kd": True}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path)
    records = run_stages(ctx)
    prune_kd = records[2]["info"]["fine_tune"]["teacher_kd"]
    qat_kd = records[3]["info"]["teacher_kd"]
    teacher = ctx.export_inputs.original_model
    for kd in (prune_kd, qat_kd):
        assert kd["teacher"] == teacher.name and kd["teacher_params"] == teacher.count_params()
        assert kd["teacher_logits"] == "cached" and kd["teacher_logits_from_cache"] is True
    assert np.isfinite(records[3]["info"]["history"]["loss"]).all()
    assert records[3]["info"]["sparsity_masks_kept"]  # the prune-preserving QAT still keeps the zeros


def test_teacher_kd_needs_fine_tuning_epochs():
    with pytest.raises(ConfigError, match="teacher_kd"):
        parse_plan({"stages": [{"stage": "train"}, {"stage": "prune", "epochs": 0, "teacher_kd": True}]})
