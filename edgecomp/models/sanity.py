"""Sanity checks that speak up: a model fed the wrong input range, ending in a softmax, or scoring
at chance gets a `RunWarning` naming the likely cause and the setting to change (or a UsageError
when the run cannot be meaningful), instead of a report that shows 10.00% without a word.

`check_loaded_model` runs on a user's model right after loading (before any fine-tuning);
`check_trained_model` after the `train` stage (then `stop_if_not_meaningful` before compression);
`artifact_warnings` on the finished report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

import numpy as np

from edgecomp.core.errors import ModelNotMeaningfulError, UsageError
from edgecomp.core.records import RunWarning
from edgecomp.core.tfenv import keras
from edgecomp.data.normalization import NAMED, parse_normalization
from edgecomp.data.pipeline import predict
from edgecomp.models.class_order import check_class_order
from edgecomp.models.flatten import FlattenError, flatten_model

ACCURACY_IMAGES = 500  # test images the near-chance check measures (the first ones: a fixed subset)
STATISTICS_IMAGES = 128  # test images the softmax and BatchNorm checks run on
NEAR_CHANCE_FACTOR = 1.5  # "near chance": accuracy below min(1.5 x chance, chance + 10 points)
NEAR_CHANCE_MARGIN = 0.10
PROBABILITY_TOLERANCE = 1e-3  # an output row summing to 1 within this (and >= 0) is a probability row
VARIANCE_RATIO = 10.0  # a BN channel disagrees when measured / moving variance is outside [1/10, 10]
MEAN_SHIFT_SIGMAS = 3.0  # ... or its measured mean is more than 3 moving standard deviations away
DISAGREEING_SHARE = 0.5  # the BN check warns when more than half of the channels disagree
# Findings that make every number of a build meaningless: the build stops before compression
# (`sanity: warn` in the plan goes on). The input range only when structural (the model's own
# 0..255 scaling layer); the BatchNorm statistics alone are a guess.
STOPPING_CODES = ("near_chance", "input_scaled_twice", "class_order")
# keras.applications guidance, for a hint when nothing measured says which normalization fits.
TYPICAL_NORMALIZATIONS = ("`symmetric` for keras.applications MobileNet(V2)/EfficientNetV2/Inception, `imagenet` "
                          "for torch-style ResNet/DenseNet weights, `raw` for a model with its own Rescaling layer")

def near_chance_limit(labels: np.ndarray, num_classes: int) -> tuple[float, float]:
    """(chance, limit): the accuracy of always predicting the most common label of `labels` (1/K on a
    balanced split), and the accuracy below which a model is "at or near chance":
    min(1.5 x chance, chance + 0.10). For 10 balanced classes: chance 10%, limit 15%; for 2: 50%, 60%."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes)
    chance = float(counts.max() / max(1, counts.sum())) if counts.sum() else 1.0 / num_classes
    return chance, min(NEAR_CHANCE_FACTOR * chance, chance + NEAR_CHANCE_MARGIN)

def check_accuracy(model, data, user_model: bool,
                   expected: Callable[[], Optional[str]] = lambda: None) -> Optional[RunWarning]:
    """Top-1 on the first `ACCURACY_IMAGES` test images (normalised as in training); a warning
    when it is at or near chance (see `near_chance_limit`).

    Args:
        model: the trained or loaded model (logits or probabilities out).
        data: the Dataset; its normalization is the one named in the hint.
        user_model: a user's file (the input range is the first suspect) or a zoo model trained
            here (the training itself is).
        expected: () -> the normalization the model's own layers or statistics point to, or None;
            called only when the accuracy is near chance (it costs a few forward passes).
    """

    count = min(ACCURACY_IMAGES, data.count("test"))
    labels = data.labels("test", count)
    accuracy = float(np.mean(np.asarray(predict(model, data, "test", limit=count)).argmax(-1) == labels))
    chance, limit = near_chance_limit(labels, data.num_classes)
    if accuracy >= limit:
        return None
    norm = data.normalization
    message = (f"model {model.name} scores {accuracy:.1%} top-1 on {count} test images, at or near chance "
               f"({chance:.1%}; near means below {limit:.1%}): its numbers in this report are not meaningful.")
    if not user_model:
        return RunWarning("near_chance", message, "too few epochs or training images for this model: raise the "
                          "train stage's `epochs` or `dataset.train_limit`, or lower its `learning_rate`.")
    expected_name = expected()
    likely = (f"the model's own layers or statistics point to `{expected_name}`" if expected_name
              else f"a model trained elsewhere often expects another one ({TYPICAL_NORMALIZATIONS})")
    return RunWarning("near_chance", message, (
        f"likely causes, most likely first: (1) the input range: `dataset.normalization` is `{norm.name}` "
        f"({norm.formula()}) and {likely}; set it to what the model was trained with. (2) the class order: "
        f"output i must mean the dataset's class i ({', '.join(data.class_names[:3])}, ...). "
        "(3) too few training epochs: raise the train stage's `epochs`."))

def probability_output_reason(model, images: np.ndarray) -> Optional[str]:
    """Why the model's outputs look like probabilities (a final softmax), or None for logits."""
    last = model.layers[-1]
    while hasattr(last, "layers") and last.layers:  # a nested model as the last layer: its last layer
        last = last.layers[-1]
    if type(last).__name__ == "Softmax" or getattr(getattr(last, "activation", None), "__name__", "") == "softmax":
        return f"its last layer `{last.name}` applies a softmax"
    outputs = np.asarray(model.predict(images, verbose=0), np.float64)  # (N, K)
    if outputs.ndim == 2 and outputs.shape[1] > 1 and (outputs >= 0).all() and \
            np.abs(outputs.sum(-1) - 1).max() <= PROBABILITY_TOLERANCE:
        return (f"every output row on {len(images)} test images is >= 0 and sums to 1 "
                f"(within {PROBABILITY_TOLERANCE:g})")
    return None

def stages_training_on_logits(plan) -> list[str]:
    """The plan's stages that train the model with a loss that expects logits."""
    return [f"{cfg.stage} (epochs {cfg.epochs})" if hasattr(cfg, "epochs") else cfg.stage for cfg in plan.stages
            if cfg.stage in ("distill", "qat") or (cfg.stage in ("train", "prune") and cfg.epochs > 0)]

def check_softmax(model, plan, images: np.ndarray) -> Optional[RunWarning]:
    """A warning for a model that outputs probabilities in a plan that only quantizes it.

    Raises:
        UsageError: a stage would train it with a logits loss (softmax applied twice).
    """
    reason = probability_output_reason(model, images)
    if reason is None:
        return None
    fix = ("remove the final softmax: in Keras, `keras.Model(model.input, pre_softmax_tensor)` (e.g. "
           "`model.layers[-2].output` when the softmax is its own layer, or the last Dense rebuilt with "
           "activation=None), and save that model")
    training = stages_training_on_logits(plan)
    if training:
        raise UsageError(f"model {model.name} outputs probabilities ({reason}), but stage(s) {', '.join(training)} "
                         f"train it with a loss that expects logits, which would apply the softmax twice. Fix: "
                         f"{fix}; or use a PTQ-only plan (train with epochs: 0, then quantize).")
    return RunWarning("softmax_output", f"model {model.name} outputs probabilities ({reason}); a PTQ-only plan "
                      "ships that softmax in the .tflite, which is fine.",
                      f"edgecomp's training losses expect logits: before fine-tuning, distilling or pruning it, {fix}.")

def pixel_scaling_layer(model) -> Optional[tuple[str, str]]:
    """(layer name, what it does) for a Rescaling / Normalization layer among the model's first layers
    (before any layer with trainable weights, inside nested backbones too) that expects 0..255 pixels:
    a Rescaling scale below 0.1 (1/255, 1/127.5) or a Normalization mean above 2 / variance above 100."""
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested backbone: look at its first layers
            return pixel_scaling_layer(layer)
        kind = type(layer).__name__
        if kind == "Rescaling":
            scale, offset = np.ravel(layer.scale).astype(float), np.ravel(layer.offset).astype(float)
            if np.abs(scale).max() < 0.1:
                return layer.name, f"x * {scale[0]:.6g} + {offset[0]:.6g}"
            return None
        if kind == "Normalization":
            mean, variance = np.ravel(np.asarray(layer.mean)), np.ravel(np.asarray(layer.variance))
            if np.abs(mean).max() > 2 or variance.max() > 100:
                return layer.name, f"(x - {mean.round(1).tolist()}) / sqrt({variance.round(1).tolist()})"
            return None
        if layer.trainable_weights:
            return None
    return None

def check_input_rescaling(model, normalization) -> Optional[RunWarning]:
    """A warning when the model scales 0..255 pixels itself but the dataset normalization is not `raw`."""
    found = pixel_scaling_layer(model)
    if found is None or normalization.name == "raw":
        return None
    name, formula = found
    return RunWarning("input_scaled_twice", f"model {model.name} scales its input itself (layer `{name}`: "
                      f"{formula}, made for 0..255 pixels), but `dataset.normalization` is `{normalization.name}` "
                      f"({normalization.formula()}): pixels are scaled twice.",
                      "set `dataset.normalization: raw` so the model's own layer does the scaling.")

def _first_trained_batch_norm(model):
    """(extractor: input -> the first trained BatchNormalization's input, that layer), or None.

    A nested tf-keras model is flattened first (its BN inputs are not tensors of the outer graph);
    BN layers still at their initial statistics (moving mean 0, variance 1) are skipped.
    """

    if isinstance(model, keras().Model):
        try:
            model = flatten_model(model).model
        except FlattenError:
            return None
        model_class = keras().Model
    else:  # a Keras 3 model the bridge could not rebuild
        import keras as keras3

        if any(hasattr(layer, "layers") for layer in model.layers):
            return None
        model_class = keras3.Model
    for layer in model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        mean, variance = (np.asarray(w) for w in (layer.moving_mean, layer.moving_variance))
        if np.allclose(mean, 0) and np.allclose(variance, 1):
            continue
        try:
            return model_class(model.inputs, layer.input), layer
        except (AttributeError, ValueError):  # a subclassed model has no graph to cut
            return None
    return None

def _bn_disagreement(extractor, layer, images: np.ndarray) -> tuple[float, float]:
    """(share of channels whose statistics disagree, median Gaussian KL(measured || moving)) of the
    BN layer's input on `images` against its moving statistics."""
    activations = np.asarray(extractor.predict(images, verbose=0), np.float64)  # (N, H, W, C) or (N, C)
    axes = tuple(range(activations.ndim - 1))
    measured_mean, measured_var = activations.mean(axes), activations.var(axes) + layer.epsilon  # (C,)
    moving_mean = np.asarray(layer.moving_mean, np.float64)
    moving_var = np.asarray(layer.moving_variance, np.float64) + layer.epsilon
    ratio = measured_var / moving_var
    shift = np.abs(measured_mean - moving_mean) / np.sqrt(moving_var)
    disagree = (ratio > VARIANCE_RATIO) | (ratio < 1 / VARIANCE_RATIO) | (shift > MEAN_SHIFT_SIGMAS)
    kl = 0.5 * (ratio + shift**2 - 1 - np.log(ratio))
    return float(disagree.mean()), float(np.median(kl))

def normalization_fit(model, data) -> Optional[dict]:
    """How well each named normalization fits the model's first trained BatchNorm statistics.

    Returns:
        {"layer", "current": (share disagreeing, median KL), "scores": {mode: median KL},
        "best": the mode with the lowest KL}, or None when the model has no trained BN layer.
    """

    found = _first_trained_batch_norm(model)
    if found is None:
        return None
    extractor, layer = found
    pixels = data.pixels("test", STATISTICS_IMAGES)
    scores = {}
    for name in NAMED:
        candidate = parse_normalization(name)
        if candidate.channels not in (None, pixels.shape[-1]):
            continue  # imagenet's per-channel values need RGB
        scores[name] = _bn_disagreement(extractor, layer, candidate.apply(pixels))[1]
    current = _bn_disagreement(extractor, layer, data.normalization.apply(pixels))
    return {"layer": layer.name, "current": current, "scores": scores, "best": min(scores, key=scores.get)}

def check_bn_statistics(model, data, fit: Optional[dict]) -> Optional[RunWarning]:
    """A warning when the first trained BN layer's input, measured on test images under the dataset's
    normalization, disagrees with its moving statistics on more than half of the channels (variance
    ratio outside [1/10, 10] or mean more than 3 moving standard deviations away): the model was
    probably trained with another preprocessing. `fit` is `normalization_fit(model, data)`."""
    if fit is None or fit["current"][0] <= DISAGREEING_SHARE:
        return None
    norm = data.normalization
    better = fit["best"] if fit["best"] != norm.name else None
    scores = ", ".join(f"{name} {score:.3g}" for name, score in sorted(fit["scores"].items(), key=lambda kv: kv[1]))
    return RunWarning("input_statistics", (
        f"the input of model {model.name}'s first BatchNormalization (`{fit['layer']}`) has statistics unlike the "
        f"ones it was trained with on {fit['current'][0]:.0%} of its channels under `dataset.normalization: "
        f"{norm.name}` (variance off by more than {VARIANCE_RATIO:g}x or mean off by more than "
        f"{MEAN_SHIFT_SIGMAS:g} sigma; median KL per normalization: {scores})."),
        (f"set `dataset.normalization: {better}`, whose statistics match best" if better else
         "the model was probably trained with a preprocessing none of the named modes reproduce: set "
         "`dataset.normalization: {scale, offset}` to it") + ".")

def check_loaded_model(ctx, model) -> None:
    """The checks on a user's model as loaded, before any fine-tuning: softmax output, input
    scaled twice, BatchNorm statistics. Warnings go to `ctx.warn`.

    Raises:
        UsageError: a softmax model in a plan that trains it with a logits loss.
    """
    images = ctx.data.images("test", STATISTICS_IMAGES)
    fit = normalization_fit(model, ctx.data)
    for warning in (check_softmax(model, ctx.plan, images), check_input_rescaling(model, ctx.data.normalization),
                    check_bn_statistics(model, ctx.data, fit)):
        if warning is not None:
            ctx.warn(warning)

def check_trained_model(ctx, user_model: bool) -> None:
    """The class-order and near-chance checks on the `train` stage's model (trained, loaded or
    fine-tuned). A user's model in another class order gets that warning alone: its low accuracy
    has a known cause. A zoo model is trained here on these labels: its order is theirs."""
    def expected() -> Optional[str]:
        if pixel_scaling_layer(ctx.model) is not None:
            return "raw"
        fit = normalization_fit(ctx.model, ctx.data)
        return fit["best"] if fit and fit["best"] != ctx.data.normalization.name else None

    folder = Path(ctx.plan.dataset.name).expanduser().is_dir()
    warning = check_class_order(ctx.model, ctx.data, folder) if user_model else None
    warning = warning or check_accuracy(ctx.model, ctx.data, user_model, expected)
    if warning is not None:
        ctx.warn(warning)

def stop_if_not_meaningful(ctx) -> None:
    """Stops the build before compression when the train stage's model cannot give meaningful
    numbers (a warning in STOPPING_CODES), unless the plan says `sanity: warn`.

    Raises:
        ModelNotMeaningfulError: (exit 2) with each finding and its hint.
    """
    found = [w for w in ctx.warnings if w.code in STOPPING_CODES]
    if not found or ctx.plan.sanity == "warn":
        return
    findings = " ".join(f"{w.message} Hint: {w.hint}" for w in found)
    raise ModelNotMeaningfulError(f"the build stops before compression: {findings} (To compress this model "
                                  "anyway, set `sanity: warn` in the plan.)")

def artifact_warnings(report: dict, test_labels: np.ndarray, num_classes: int) -> list[RunWarning]:
    """One warning naming the exported files that score at or near chance (see `near_chance_limit`),
    when the trained model did not already get one (its cause would be the same)."""
    if any(w["code"] == "near_chance" for w in report.get("warnings", [])):
        return []
    bad = []
    for artifact in report["artifacts"]:
        if artifact.get("accuracy") is None or not artifact.get("accuracy_samples"):
            continue
        chance, limit = near_chance_limit(test_labels[:artifact["accuracy_samples"]], num_classes)
        if artifact["accuracy"] < limit:
            bad.append(f"{artifact['name']} {artifact['accuracy']:.1%} (chance {chance:.1%})")
    if not bad:
        return []
    return [RunWarning("artifact_near_chance", f"exported file(s) at or near chance accuracy: {'; '.join(bad)}, "
                       "while the trained model was not.",
                       "the compression broke them: see each file's parity and quant_debug in the report; try "
                       "more epochs in the prune / qat / distill stage or another quantize mode.")]
