"""Flattens nested tf-keras models (a backbone called inside a functional model, a Sequential
inside a Functional, several levels deep) into one functional graph of plain layers.

Pruning, QAT and distillation see only a model's top-level layers: a `keras.applications`
backbone used as a sub-model is one opaque layer to them. The flat copy has the same layers
(fresh objects, same configs, weights copied), wired as the nested calls wired them; a sub-model
called with `training=False` passes that on to its BatchNormalization/Dropout layers, so frozen
statistics stay frozen. Outputs are compared with the nested model's and recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgecomp.core.errors import ModelLoadError
from edgecomp.core.tfenv import keras
from edgecomp.models.keras_internals import skips_first_node


class FlattenError(ModelLoadError):
    """A nested model that cannot be inlined (a sub-model called twice, a subclassed sub-model)."""


@dataclass
class FlattenResult:
    model: object
    submodels: list[str] = field(default_factory=list)  # inlined sub-models, outermost first
    renamed: dict[str, str] = field(default_factory=dict)  # new name -> "submodel/original name"
    frozen_inference_layers: list[str] = field(default_factory=list)  # called with training=False
    dropped: list[str] = field(default_factory=list)  # layers left out (`drop` said they are identities)
    parity: dict = field(default_factory=dict)


def nested_models(model) -> list[str]:
    """Names of the sub-models among `model`'s layers (top level only)."""
    return [layer.name for layer in model.layers if isinstance(layer, keras().Model)]


# (layer, its input tensors) -> True when the layer is an identity to leave out of the flat model.
DropRule = Callable[[object, list], bool]


class _Inliner:
    def __init__(self, top_names: set[str], result: FlattenResult, drop: DropRule | None = None):
        self.used = set(top_names)
        self.result = result
        self.drop = drop
        self.pairs: list[tuple[object, object]] = []

    def _name(self, layer, prefix: str | None) -> str:
        name = layer.name
        if prefix is not None and name in self.used:
            name = f"{prefix}_{layer.name}"
            self.result.renamed[name] = f"{prefix}/{layer.name}"
        self.used.add(name)
        return name

    def call(self, layer, inputs, kwargs: dict, prefix: str | None, inherited: dict):
        config = layer.get_config()
        config["name"] = self._name(layer, prefix)
        clone = layer.__class__.from_config(config)
        call_kwargs = dict(kwargs)
        if "training" in inherited and getattr(layer, "_expects_training_arg", False):
            call_kwargs.setdefault("training", inherited["training"])
            self.result.frozen_inference_layers.append(config["name"])
        self.pairs.append((layer, clone))
        return clone(inputs, **call_kwargs)

    def walk(self, model, inputs: list, prefix: str | None, inherited: dict) -> list:
        """Calls fresh copies of `model`'s layers on `inputs`; returns its output tensors."""
        if isinstance(model, keras().Sequential):
            tensor = inputs[0]
            for layer in model.layers:
                tensor = self.layer_or_model(layer, [tensor], {}, model.name, inherited, 0)[0]
            return [tensor]
        if type(model).__name__ != "Functional":
            raise FlattenError(f"sub-model {model.name!r} is a subclassed model ({type(model).__name__}); its "
                               "graph is Python code and cannot be inlined. Rebuild it as a functional model.")
        config = model.get_config()
        tensors = {(ref[0], 0, 0): tensor for ref, tensor in zip(config["input_layers"], inputs)}
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                continue
            layer = model.get_layer(entry["name"])
            # A sub-model's node 0 is its own construction, absent from the config: its calls are
            # numbered from 1 where other layers' start at 0 (tf-keras' _should_skip_first_node).
            first = 1 if skips_first_node(layer) else 0
            for node_index, node in enumerate(entry["inbound_nodes"], start=first):
                args = [tensors[(name, index, tensor_index)] for name, index, tensor_index, _ in node]
                kwargs = dict(node[0][3]) if node and len(node[0]) > 3 else {}
                outputs = self.layer_or_model(layer, args, kwargs, prefix, inherited, node_index - first)
                for index, tensor in enumerate(outputs):
                    tensors[(entry["name"], node_index, index)] = tensor
        return [tensors[(name, index, tensor_index)] for name, index, tensor_index in config["output_layers"]]

    def layer_or_model(self, layer, args: list, kwargs: dict, prefix, inherited: dict, node_index: int) -> list:
        if isinstance(layer, keras().Model):
            if node_index > 0:
                raise FlattenError(f"sub-model {layer.name!r} is called {node_index + 1} times (shared weights); "
                                   "flattening would un-share them. Call it once, or leave it out of pruning/QAT.")
            self.result.submodels.append(layer.name)
            inner = dict(inherited)
            if "training" in kwargs:
                inner["training"] = kwargs.pop("training")
            return self.walk(layer, args, layer.name, inner)
        if self.drop is not None and len(args) == 1 and self.drop(layer, args):
            self.result.dropped.append(layer.name)
            return list(args)
        outputs = self.call(layer, args[0] if len(args) == 1 else args, kwargs, prefix, inherited)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def copy_weights(self) -> None:
        for source, clone in self.pairs:
            if source.weights:
                clone.set_weights(source.get_weights())


def flatten_model(model, images: np.ndarray | None = None, drop: DropRule | None = None) -> FlattenResult:
    """One functional model with every nested sub-model's layers inlined, weights copied.

    Args:
        model: a tf-keras functional or sequential model.
        images: real inputs (N, ...) to compare the flat and nested models on; None skips it.
        drop: layers it accepts are left out (identities at inference, such as augmentation
            layers); the model is then rebuilt even when nothing is nested.

    Returns:
        The flat model (the same object when nothing was nested), the inlined sub-models, renamed
        layers and the output comparison.

    Raises:
        FlattenError: a sub-model that cannot be inlined, or a flat model whose outputs differ.
    """
    result = FlattenResult(model=model)
    if not nested_models(model) and drop is None:
        return result
    inliner = _Inliner({layer.name for layer in model.layers}, result, drop)
    inputs = [keras().Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=name)
              for t, name in zip(model.inputs, model.input_names)]
    outputs = inliner.walk(model, inputs, None, {})
    flat = keras().Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                         name=model.name)
    inliner.copy_weights()
    result.model = flat
    if images is not None:
        reference = np.asarray(model.predict(images, batch_size=64, verbose=0))
        diff = np.abs(reference - np.asarray(flat.predict(images, batch_size=64, verbose=0)))
        scale = float(np.abs(reference).max())
        result.parity = {"max_abs_diff": float(diff.max()), "samples": int(len(images)),
                         "max_abs_output": scale, "passed": bool(diff.max() <= 1e-4 * max(scale, 1e-6))}
        if not result.parity["passed"]:
            raise FlattenError(f"flattening {model.name!r} changed its outputs (max |diff| {diff.max():.3g}); "
                               "please report this with the model file.")
    return result
