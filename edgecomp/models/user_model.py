"""A user's model file made ready for the plan's stages: loaded by the Keras that wrote it,
brought into tf-keras (Keras 3 files), flattened when a stage must see inside sub-models, and
each step checked on real images from the dataset, with the numbers returned for the report.

Augmentation layers (RandomFlip...) are left out: identities at inference (`edgecomp.models.augmentation`).
A Keras 3 model the bridge cannot rebuild still serves a PTQ-only plan (train + quantize): the
TFLite converter and tf2onnx take the Keras 3 model itself (see `edgecomp.exporters.keras3`).
"""

from __future__ import annotations

import time

import numpy as np

from edgecomp.core.progress import step
from edgecomp.core.tfenv import keras
from edgecomp.models.augmentation import WHY_DROPPED, drop_augmentation_layers
from edgecomp.models.bridge import BridgeError, bridge_keras3_model
from edgecomp.models.flatten import flatten_model, nested_models
from edgecomp.models.load import check_model_fits_data, check_model_path, keras_version_of, load_any_model
from edgecomp.models.output_head import strip_softmax_head

# Stages that only read the model: a Keras 3 model the bridge cannot rebuild may go straight to them.
PTQ_ONLY_STAGES = frozenset({"train", "quantize"})
# Stages that edit layers and therefore need sub-models inlined.
FLAT_GRAPH_STAGES = frozenset({"prune", "qat", "distill"})
CHECK_IMAGES = 128


def stage_names(plan) -> list[str]:
    return [cfg.stage for cfg in plan.stages]

def check_images(data) -> np.ndarray:
    """The real images each conversion is checked on: the first test images."""
    return data.images("test", CHECK_IMAGES)

def bring_to_tf_keras(model, plan, images: np.ndarray) -> tuple[object, dict]:
    """(tf-keras model, record) for a Keras 3 model, or the Keras 3 model itself for a PTQ-only plan
    whose model the bridge cannot rebuild.

    Raises:
        BridgeError: a layer cannot be brought across and the plan needs tf-keras.
    """

    started = time.perf_counter()
    try:
        result = bridge_keras3_model(model, images)
    except BridgeError as err:
        if not set(stage_names(plan)) <= PTQ_ONLY_STAGES:
            raise BridgeError(f"{err} (the plan's stages {stage_names(plan)} need tf-keras; a plan with only "
                              "train + quantize stages converts the Keras 3 model directly)") from err
        step(f"model stays in Keras 3 ({err}); PTQ-only plan: converting it directly")
        return model, {"status": "not_bridged", "reason": str(err),
                       "direct_conversion": "TFLite: the Keras 3 model is exported to a temporary SavedModel and "
                                            "converted with TFLiteConverter.from_saved_model; ONNX: tf2onnx "
                                            "from_keras on the Keras 3 model"}
    step(f"brought Keras 3 model {model.name} into tf-keras: {result.layers} layers, outputs differ by at most "
         f"{result.parity['max_abs_diff']:.3g} on {result.parity['samples']} test images")
    return result.model, {"status": "bridged", "layers": result.layers, "parity": result.parity,
                          "rebuilt_activations": result.rebuilt_activations,
                          "dropped_layers": result.dropped_layers,
                          "seconds": round(time.perf_counter() - started, 3)}

def flatten_if_needed(model, plan, images: np.ndarray) -> tuple[object, dict | None]:
    """Inlines sub-models when a stage needs the flat graph; the record, or None when nothing was nested."""

    nested = nested_models(model)
    if not nested:
        return model, None
    if not set(stage_names(plan)) & FLAT_GRAPH_STAGES:
        return model, {"status": "kept_nested", "submodels": nested,
                       "reason": "no prune, qat or distill stage needs to see inside them"}
    result = flatten_model(model, images)
    step(f"flattened sub-model(s) {', '.join(result.submodels)} into {len(result.model.layers)} layers; outputs "
         f"differ by at most {result.parity['max_abs_diff']:.3g}")
    return result.model, {"status": "flattened", "submodels": result.submodels, "renamed": result.renamed,
                          "layers": len(result.model.layers), "parity": result.parity,
                          "inference_mode_layers": len(result.frozen_inference_layers)}

def prepare_user_model(path: str, plan, data) -> tuple[object, dict]:
    """Loads `path` for the plan's stages; returns the model and what was done to it (`prepare_model`).

    Raises:
        ModelLoadError: the file cannot be loaded, or brought into tf-keras when the plan needs it.
        DatasetError: the model's input shape or class count does not fit the dataset.
    """
    resolved = check_model_path(path)
    return prepare_model(load_any_model(resolved), plan, data, keras_version_of(resolved) or "tf-keras SavedModel")

def prepare_model(model, plan, data, keras_version: str) -> tuple[object, dict]:
    """A user's Keras 3 or tf-keras model, from a file or in memory, made ready for the plan's stages:
    brought into tf-keras, its augmentation layers left out, sub-models flattened when a stage needs
    it, and a final softmax taken off (`output_head` in the record: export puts it back).

    Raises:
        ModelLoadError: the model cannot be brought into tf-keras when the plan needs it.
        DatasetError: the model's input shape or class count does not fit the dataset.
    """
    check_model_fits_data(model, data)
    images = check_images(data)
    info: dict = {"keras_version": keras_version}
    model = _in_tf_keras_without_augmentation(model, plan, images, info)
    if isinstance(model, keras().Model):
        model, flatten_info = flatten_if_needed(model, plan, images)
        if flatten_info:
            info["flatten"] = flatten_info
    model, head = strip_softmax_head(model)  # the stages train on logits
    if head:
        step(f"model {model.name} ends in a softmax (`{head['layer']}`): trained on its logits; the deployable "
             "outputs probabilities, as the model does")
        info["output_head"] = head
    return model, info

def _in_tf_keras_without_augmentation(model, plan, images: np.ndarray, info: dict):
    """The model bridged into tf-keras (a Keras 3 model the plan allows to stay is kept) without its
    augmentation layers; records both in `info`."""
    dropped: list[str] = []
    if not isinstance(model, keras().Model):
        model, info["model_bridge"] = bring_to_tf_keras(model, plan, images)
        dropped = list(info["model_bridge"].get("dropped_layers", []))
    if isinstance(model, keras().Model):
        model, dropped_here = drop_augmentation_layers(model, images)  # tf-keras models (the bridge already did)
        dropped += dropped_here
    if dropped:
        step(f"left out {len(dropped)} augmentation layer(s), identities at inference: {', '.join(dropped)}")
        info["augmentation_layers"] = {"dropped": dropped, "why": WHY_DROPPED}
    return model
