"""The `train` stage: build a zoo model and train it, or load a user's model (and fine-tune it).

Trained zoo models are cached, keyed by everything that decides their weights (model, dataset,
split, epochs, batch size, learning rate, seed, versions), so a second build does not retrain.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Optional

from pydantic import Field

from edgecomp.config import Strict
from edgecomp.errors import DatasetError, ModelLoadError, UsageError
from edgecomp.progress import keras_progress_callback, step
from edgecomp.stages import STAGES, RunContext, StageDef
from edgecomp.tfenv import keras, seed_everything


class TrainConfig(Strict):
    """Train the plan's model from scratch (zoo model) or fine-tune it (user model, epochs > 0)."""

    stage: str = "train"
    epochs: int = Field(10, ge=0)
    batch_size: int = Field(128, gt=0)
    learning_rate: float = Field(2e-3, gt=0)
    cache: bool = True


def is_model_file(name: str) -> bool:
    """A plan's `model` is a file or folder path when it looks like one, else a zoo name."""
    return "/" in name or name.endswith((".keras", ".h5", ".hdf5")) or Path(name).exists()


def cache_dir() -> Path:
    return Path(os.environ.get("EDGECOMP_CACHE_DIR", Path.home() / ".cache" / "edgecomp"))


def check_model_fits_data(model, data) -> None:
    """Raises DatasetError when the model's input shape or class count does not fit the dataset."""
    model_input = tuple(model.input_shape[1:])
    if model_input != tuple(data.input_shape):
        raise DatasetError(
            f"dataset {data.name} has images of shape {tuple(data.input_shape)} but model {model.name} "
            f"expects {model_input}; pick a dataset of that shape or a model built for it."
        )
    classes = model.output_shape[-1]
    if classes != data.num_classes:
        raise DatasetError(
            f"dataset {data.name} has {data.num_classes} classes but model {model.name} outputs {classes}."
        )


def cosine_adam(learning_rate: float, total_steps: int):
    """The optimizer every edgecomp training uses: Adam with the learning rate cosine-decayed to 0."""
    schedule = keras().optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, total_steps))
    return keras().optimizers.Adam(schedule)


def fit_summary(history, seconds: float, epochs: int) -> dict:
    """What a stage records about a Keras fit: epochs, seconds per epoch, per-epoch metrics."""
    return {
        "epochs": epochs,
        "seconds_per_epoch": seconds / max(1, epochs),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }


def compile_for_training(model, learning_rate: float, total_steps: int):
    """Adam with cosine decay on logits; the loss every zoo and user model is trained with."""
    model.compile(
        optimizer=cosine_adam(learning_rate, total_steps),
        loss=keras().losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def fit(model, data, epochs: int, batch_size: int, learning_rate: float, label: str,
        extra_callbacks: Optional[list] = None) -> dict:
    """Trains `model` on the dataset's train split, validating on its validation split.

    Returns:
        The history (per-epoch metrics) and the seconds per epoch.
    """
    steps = -(-len(data.x_train) // batch_size)
    compile_for_training(model, learning_rate, epochs * steps)
    started = time.perf_counter()
    history = model.fit(
        data.x_train, data.y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
        validation_data=(data.x_val, data.y_val), verbose=0,
        callbacks=[keras_progress_callback(epochs, steps, label)] + list(extra_callbacks or []),
    )
    return fit_summary(history, time.perf_counter() - started, epochs)


def cache_key(ctx: RunContext, cfg: TrainConfig) -> str:
    import tensorflow as tf

    facts = {
        "model": ctx.plan.model, "dataset": ctx.data.describe(), "seed": ctx.plan.seed,
        "epochs": cfg.epochs, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
        "tensorflow": tf.__version__, "format": 1,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def save_model_atomically(model, path: Path) -> None:
    """Saves to a temporary name then renames: an interrupted save never looks like a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    model.save(tmp)
    os.replace(tmp, path)


def run_train(ctx: RunContext, cfg: TrainConfig) -> dict:
    from edgecomp.models.load import load_user_model
    from edgecomp.models.zoo import ZOO, build_zoo_model

    seed_everything(ctx.plan.seed)
    if is_model_file(ctx.plan.model):
        model = load_user_model(ctx.plan.model)
        check_model_fits_data(model, ctx.data)
        info = {"source": "file", "path": str(Path(ctx.plan.model).resolve())}
        if cfg.epochs:
            step(f"fine-tuning {model.name} for {cfg.epochs} epochs")
            info.update(fit(model, ctx.data, cfg.epochs, cfg.batch_size, cfg.learning_rate, "fine-tune"))
        ctx.model = model
        return info
    ZOO.get(ctx.plan.model)  # an unknown name raises UsageError with a did-you-mean, before any work
    if cfg.epochs == 0:
        raise UsageError(f"zoo model {ctx.plan.model} needs training: set epochs > 0.")
    cached = cache_dir() / "models" / f"{ctx.plan.model}-{cache_key(ctx, cfg)}.keras"
    if cfg.cache and cached.is_file():
        step(f"loading cached {ctx.plan.model} from {cached}")
        try:
            ctx.model = load_user_model(cached)
            return {"source": "zoo", "cached": True, "cache_path": str(cached)}
        except ModelLoadError as err:  # a damaged cache entry costs a retraining, not the build
            step(f"cached model unusable ({err}); training again")
            cached.unlink()
    model = build_zoo_model(ctx.plan.model, ctx.data.input_shape, ctx.data.num_classes)
    step(f"training {ctx.plan.model} ({model.count_params():,} parameters) for {cfg.epochs} epochs "
         f"on {len(ctx.data.x_train):,} images")
    info = {"source": "zoo", "cached": False}
    info.update(fit(model, ctx.data, cfg.epochs, cfg.batch_size, cfg.learning_rate, "train"))
    if cfg.cache:
        save_model_atomically(model, cached)
        info["cache_path"] = str(cached)
    ctx.model = model
    return info


STAGES.register("train")(StageDef(config=TrainConfig, run=run_train))
