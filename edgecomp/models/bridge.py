"""Brings a Keras 3 model into tf-keras, the Keras that tfmot and edgecomp's compression stages use.

The architecture is rebuilt layer by layer from the Keras 3 graph (its functional config: layers
and the tensors that flow between them), each layer translated by `bridge_layers`, nested models
bridged recursively; then every layer's weights are copied and both models are run on the same
real images, and the largest output difference is recorded (`BridgeResult.parity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgecomp.core.tfenv import keras
from edgecomp.models.augmentation import augmentation_only, is_inference_identity
from edgecomp.models.bridge_layers import (
    BridgeError,
    activation_of,
    needs_rebuilt_activation,
    rebuilt_activation,
    translate_config,
    translate_operation,
)

# Largest |diff| accepted between the Keras 3 model and its tf-keras rebuild, relative to the
# largest |output|: both run the same float32 kernels, so anything above rounding is a bug.
PARITY_TOLERANCE = 1e-4


@dataclass
class BridgeResult:
    model: object  # the tf-keras model
    layers: int  # Keras 3 layers (and operations) rebuilt, nested ones included
    rebuilt_activations: list[str] = field(default_factory=list)  # layers whose activation became layers
    dropped_layers: list[str] = field(default_factory=list)  # augmentation layers left out (identities)
    parity: dict = field(default_factory=dict)


def _is_model(layer) -> bool:
    import keras as keras3

    return isinstance(layer, keras3.Model)


def _resolve(structure, tensors: dict):
    """Replaces each serialised Keras 3 tensor reference in a node's args with the tf-keras tensor."""
    if isinstance(structure, dict) and structure.get("class_name") == "__keras_tensor__":
        name, node_index, tensor_index = structure["config"]["keras_history"]
        return tensors[(name, node_index, tensor_index)]
    if isinstance(structure, (list, tuple)):
        return type(structure)(_resolve(item, tensors) for item in structure)
    if isinstance(structure, dict):
        return {key: _resolve(value, tensors) for key, value in structure.items()}
    return structure


class _Builder:
    """Walks one Keras 3 functional graph, creating and calling the tf-keras layers."""

    def __init__(self, result: BridgeResult):
        self.result = result
        self.pairs: list[tuple[object, object]] = []  # (Keras 3 layer, tf-keras layer) to copy weights
        self.nested: dict[str, object] = {}  # nested Keras 3 model name -> its tf-keras rebuild

    def model(self, source):
        config = source.get_config()
        entries = config["layers"]
        if "input_layers" not in config:  # Sequential: a chain of layers
            return self._sequential(source, entries)
        by_name = {layer.name: layer for layer in source.layers}
        tensors: dict = {}
        for entry in entries:
            name = entry["name"]
            self.result.layers += 1
            if entry["class_name"] == "InputLayer":
                _, layer_config = translate_config(name, "InputLayer", entry["config"])
                tensors[(name, 0, 0)] = keras().Input(batch_shape=layer_config["batch_input_shape"],
                                                       dtype=layer_config["dtype"], name=name)
                continue
            for node_index, node in enumerate(entry["inbound_nodes"]):
                args = _resolve(list(node.get("args", [])), tensors)
                kwargs = {k: v for k, v in _resolve(node.get("kwargs", {}), tensors).items()
                          if k not in ("mask", "training") or v is not None}
                outputs = self._call(entry, by_name.get(name), args, kwargs, node_index)
                for index, tensor in enumerate(outputs if isinstance(outputs, (list, tuple)) else [outputs]):
                    tensors[(name, node_index, index)] = tensor
        refs = config["input_layers"], config["output_layers"]
        inputs, outputs = ([tensors[tuple(ref)] for ref in (r if isinstance(r[0], list) else [r])] for r in refs)
        single = not isinstance(config["output_layers"][0], list)
        return keras().Model(inputs if len(inputs) > 1 else inputs[0], outputs[0] if single else outputs,
                             name=config["name"])

    def _sequential(self, source, entries):
        inputs = keras().Input(batch_shape=tuple(source.inputs[0].shape), name=f"{source.name}_input")
        tensor = inputs
        by_name = {layer.name: layer for layer in source.layers}
        for entry in entries:
            if entry["class_name"] == "InputLayer":
                continue
            self.result.layers += 1
            tensor = self._call(entry, by_name[entry["config"]["name"]], [tensor], {}, 0)
        return keras().Model(inputs, tensor, name=source.name)

    def _call(self, entry: dict, source_layer, args: list, kwargs: dict, node_index: int):
        name, class_name = entry["config"].get("name", entry.get("name")), entry["class_name"]
        dropped = self._inference_identity(class_name, entry["config"], source_layer, args)
        if dropped:
            self.result.dropped_layers += dropped
            return args[0]
        if source_layer is not None and _is_model(source_layer):
            if name not in self.nested:  # a sub-model called twice shares its rebuild, as in Keras 3
                self.nested[name] = self.model(source_layer)
            return self.nested[name](*args, **kwargs)
        module = entry.get("module") or "keras.layers"
        if module.startswith("keras.src.ops"):  # `x + 3.0` in a functional graph: a keras.ops node
            return translate_operation(name, class_name, args)(*[a for a in args if not isinstance(a, (int, float))])
        if module != "keras.layers":
            raise BridgeError(f"layer {name!r} ({class_name}) is a custom layer from {module}; the bridge rebuilds "
                              "only built-in Keras layers. Use a PTQ-only plan, which converts the Keras 3 model "
                              "directly.")
        if node_index > 0:
            raise BridgeError(f"layer {name!r} ({class_name}) is shared (called {node_index + 1} times); the "
                              "bridge rebuilds layers called once. Use a PTQ-only plan.")
        activation = activation_of(name, class_name, entry["config"])
        config = dict(entry["config"])
        if needs_rebuilt_activation(activation):
            self.result.rebuilt_activations.append(name)
            if class_name == "Activation":
                return rebuilt_activation(activation, args[0], name)
            config["activation"] = "linear"
        layer_class, tf_config = translate_config(name, class_name, config)
        try:
            layer = layer_class.from_config(tf_config)
            outputs = layer(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - tf-keras raises many types for a config it cannot use
            raise BridgeError(f"layer {name!r} ({class_name}) cannot be rebuilt in tf-keras: "
                              f"{str(err).splitlines()[0][:200]}. Use a PTQ-only plan.") from err
        if source_layer is not None and source_layer.weights:
            self.pairs.append((source_layer, layer))
        if needs_rebuilt_activation(activation):
            return rebuilt_activation(activation, outputs, f"{name}_{activation}")
        return outputs

    @staticmethod
    def _inference_identity(class_name: str, config: dict, source_layer, args: list) -> list[str]:
        """The names to leave out when this call is an identity at inference: an augmentation layer,
        or a sub-model made only of them (see `edgecomp.models.augmentation`); else []."""
        if len(args) != 1 or not hasattr(args[0], "shape"):
            return []
        shape = tuple(args[0].shape)
        if source_layer is not None and _is_model(source_layer):
            inner = augmentation_only(source_layer, shape)
            return [f"{source_layer.name}/{layer}" for layer in inner] if inner else []
        return [config.get("name", class_name)] if is_inference_identity(class_name, config, shape) else []

    def copy_weights(self) -> None:
        for source, target in self.pairs:
            weights = [np.asarray(w) for w in source.get_weights()]
            expected = [tuple(w.shape) for w in target.weights]
            if [tuple(w.shape) for w in weights] != expected:
                raise BridgeError(
                    f"layer {source.name!r} ({type(source).__name__}) has weights of shapes "
                    f"{[w.shape for w in weights]} in Keras 3 but tf-keras expects {expected}; it cannot be "
                    "brought across. Use a PTQ-only plan.")
            target.set_weights(weights)


def compare_outputs(source, target, images: np.ndarray) -> dict:
    """Runs both models on `images`; max and mean |diff| of their outputs, and whether it is rounding."""
    reference = np.asarray(source.predict(images, batch_size=64, verbose=0))
    rebuilt = np.asarray(target.predict(images, batch_size=64, verbose=0))
    diff = np.abs(reference - rebuilt)
    scale = max(1.0, float(np.abs(reference).max()))
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "samples": int(len(images)),
            "tolerance": PARITY_TOLERANCE * scale, "passed": bool(diff.max() <= PARITY_TOLERANCE * scale),
            "top1_agreement": float(np.mean(reference.argmax(-1) == rebuilt.argmax(-1)))}


def bridge_keras3_model(source, images: np.ndarray) -> BridgeResult:
    """Rebuilds a Keras 3 model in tf-keras, copies its weights and checks outputs on `images`.

    Args:
        source: a Keras 3 functional or sequential model (nested models allowed).
        images: real inputs (N, H, W, C) the two models are compared on.

    Returns:
        The tf-keras model, the number of layers rebuilt and the parity record.

    Raises:
        BridgeError: a layer cannot be rebuilt (named with its class and the reason), or the
            rebuilt model's outputs differ beyond float rounding.
    """
    import keras as keras3

    if not isinstance(source, keras3.Model):
        raise BridgeError(f"{type(source).__name__} is not a Keras 3 model.")
    if type(source).__name__ not in ("Functional", "Sequential"):
        raise BridgeError(f"model {source.name!r} is a subclassed Keras 3 model ({type(source).__name__}); "
                          "its architecture is Python code, not a graph the bridge can rebuild. Use a PTQ-only "
                          "plan, which converts the Keras 3 model directly.")
    result = BridgeResult(model=None, layers=0)
    builder = _Builder(result)
    result.model = builder.model(source)
    builder.copy_weights()
    result.parity = compare_outputs(source, result.model, images)
    if not result.parity["passed"]:
        raise BridgeError(
            f"the tf-keras rebuild of {source.name!r} disagrees with the Keras 3 model: max |diff| "
            f"{result.parity['max_abs_diff']:.3g} on {len(images)} images (tolerance "
            f"{result.parity['tolerance']:.3g}). Use a PTQ-only plan, which converts the Keras 3 model directly.")
    return result


def noise_images(model, count: int = 16) -> np.ndarray:
    """Uniform [0, 1] inputs of the model's input shape, for when no dataset is at hand."""
    shape = tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(0).random((count,) + shape, dtype=np.float32)
