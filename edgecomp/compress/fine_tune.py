"""Fine-tuning a compressed model (after pruning, during QAT): on the labels, or with `teacher_kd`
on the KD loss against the plan's trained model.

The teacher is the train stage's model (`ctx.export_inputs.original_model`): the model the chain
compresses, so every stage after distillation keeps learning from the same outputs the
distilled student was taught. Its logits on the training images are the distill stage's, from
the stage cache (`edgecomp.compress.distiller.teacher_train_logits`), unless augmentation asks for
them on the fly.
"""

from __future__ import annotations

from edgecomp.compress import fitting
from edgecomp.compress.distill.base import check_compatible, check_outputs_logits
from edgecomp.compress.distiller import distill_kd
from edgecomp.core.errors import UsageError
from edgecomp.plan.stage_settings import DistillConfig


def stage_teacher(ctx, cfg, stage: str):
    """The teacher of a stage with `teacher_kd` on (None when it is off), checked against ctx.model.

    Raises:
        UsageError: no train stage left a model, or the teacher cannot teach this model.
    """
    if not cfg.teacher_kd:
        return None

    teacher = ctx.export_inputs.original_model
    if teacher is None:
        raise UsageError(f"the {stage} stage has teacher_kd on, but no train stage left a model to learn from; "
                         "put a `train` stage first or drop teacher_kd.")
    check_outputs_logits(teacher, "teacher")
    check_compatible(ctx.model, teacher, what=f"the {stage} stage's model")
    return teacher

def fine_tune(model, data, cfg, label: str, callbacks: list | None = None, teacher=None, seed: int = 0,
              first_eligible_epoch: int = 0) -> dict:
    """Trains `model` in place for cfg.epochs: on the labels, or on the KD loss against `teacher`.

    Args:
        model: the model to train (a pruning-wrapped or quantization-aware model included).
        data: the Dataset.
        cfg: the stage's settings (epochs, batch_size, learning_rate, augment).
        label: what the progress bar calls this run.
        callbacks: more Keras callbacks (pruning's step counter, QAT's mask keeper).
        teacher: None for labels only; else the model whose outputs `model` learns (kd's T and alpha).
        seed: seeds the shuffle and augmentation.
        first_eligible_epoch: with cfg.restore_best, the first epoch (0-based) whose weights may be
            kept (pruning: the first at the target sparsity).

    Returns:
        fit's info (`best_weights`: the epoch kept, with cfg.restore_best); with a teacher, also `teacher_kd` (teacher, T, alpha, where its logits came from).
    """
    augment = cfg.augment if cfg.augment.enabled else None
    restore_best = fitting.restore_best_callback(model, first_eligible_epoch) if cfg.restore_best else None
    if teacher is None:
        return fitting.fit(model, data, cfg.epochs, cfg.batch_size, cfg.learning_rate, label, callbacks,
                           augment=augment, seed=seed, restore_best=restore_best)

    kd = DistillConfig(method="kd", epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                       augment=cfg.augment, restore_best=cfg.restore_best).resolved()
    info = distill_kd(model, teacher, data, kd, label=f"{label} + kd", seed=seed, callbacks=callbacks,
                      restore_best=restore_best)
    info["teacher_kd"] = {"teacher": teacher.name, "teacher_params": info.pop("teacher_params"),
                          "temperature": kd.temperature, "alpha": kd.alpha,
                          "teacher_logits": info.pop("teacher_logits"),
                          "teacher_logits_from_cache": info.pop("teacher_logits_from_cache", None),
                          "teacher_logits_seconds": info.pop("teacher_logits_seconds")}
    info.pop("student_params", None)
    return info
