"""The `train` stage: build a zoo model and train it, or load a user's model (and fine-tune it).

The trained model is cached like every stage's output, by the pipeline (`edgecomp.run.stage_state`),
keyed by everything that decides its weights, so a second build does not retrain.
"""

from __future__ import annotations

from pathlib import Path

from edgecomp.compress import fitting
from edgecomp.compress.bn_stats import reestimate_and_measure
from edgecomp.compress.context import RunContext
from edgecomp.compress.fitting import fit_keras3
from edgecomp.core.errors import UsageError
from edgecomp.core.progress import step
from edgecomp.core.tfenv import keras, seed_everything
from edgecomp.models.sanity import check_loaded_model
from edgecomp.models.user_model import prepare_user_model
from edgecomp.models.zoo import ZOO, build_zoo_model
from edgecomp.plan.plan import is_model_file
from edgecomp.plan.stage_settings import TrainConfig


def train_and_reestimate(model, ctx: RunContext, cfg: TrainConfig, label: str) -> dict:
    """fit, then BatchNorm statistics re-estimated for the final weights (see compress.bn_stats)."""

    augment = cfg.augment if cfg.augment.enabled else None
    info = fitting.fit(model, ctx.data, cfg.epochs, cfg.batch_size, cfg.learning_rate, label, augment=augment,
                       seed=ctx.plan.seed, fresh_bn=True)
    info["bn_statistics"] = reestimate_and_measure(model, ctx.data, cfg.batch_size, seed=ctx.plan.seed)
    return info

def user_model_use(epochs: int) -> str:
    """What the train stage did to a user's model file, in the words of the report."""
    if epochs == 0:
        return "loaded as is (not retrained: the plan's train stage sets no epochs)"
    return f"fine-tuned {epochs} epoch{'s' if epochs != 1 else ''} (the plan's train stage epochs)"

def run_train(ctx: RunContext, cfg: TrainConfig) -> dict:

    seed_everything(ctx.plan.seed)
    if is_model_file(ctx.plan.model):
        # Keras 3 files are brought into tf-keras and nested sub-models flattened, each checked.
        model, loaded = prepare_user_model(ctx.plan.model, ctx.plan, ctx.data)
        # First in the record: the report's stage table shows the start of it.
        info = {"model": user_model_use(cfg.epochs), "source": "file", "path": str(Path(ctx.plan.model).resolve()),
                **loaded}
        check_loaded_model(ctx, model)  # softmax output, input range: before any fine-tuning
        if cfg.epochs:
            step(f"fine-tuning {model.name} for {cfg.epochs} epochs")
            keras3 = not isinstance(model, keras().Model)  # a Keras 3 model the bridge could not rebuild
            info.update(fit_keras3(model, ctx.data, cfg.epochs, cfg.batch_size, cfg.learning_rate) if keras3
                        else train_and_reestimate(model, ctx, cfg, "fine-tune"))
        ctx.model = model
        return info
    ZOO.get(ctx.plan.model)  # an unknown name raises UsageError with a did-you-mean, before any work
    if cfg.epochs == 0:
        raise UsageError(f"zoo model {ctx.plan.model} needs training: set epochs > 0.")
    model = build_zoo_model(ctx.plan.model, ctx.data.input_shape, ctx.data.num_classes)
    step(f"training {ctx.plan.model} ({model.count_params():,} parameters) for {cfg.epochs} epochs "
         f"on {ctx.data.count('train'):,} images")
    info = {"source": "zoo"}
    info.update(train_and_reestimate(model, ctx, cfg, "train"))
    ctx.model = model
    return info

