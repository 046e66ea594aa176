"""Keras 3 layer configs translated, class by class, into tf-keras layers.

Only the layers listed in `TRANSLATORS` cross: for each, the Keras 3 config keys that tf-keras
also has are kept, keys Keras 3 added are dropped only while they hold their no-op default
(`lora_rank: None`...), and anything else is a `BridgeError` naming the layer, its class and the
reason. Activations whose definition differs between the two Keras versions (Keras 3's
`hard_sigmoid` is relu6(x + 3) / 6, tf-keras' is clip(0.2x + 0.5); tf-keras has no `hard_silu`)
are rebuilt from plain layers (Rescaling, ReLU(6), Multiply) with Keras 3's formula.
"""

from __future__ import annotations

from typing import Callable

from edgecomp.core.errors import ModelLoadError
from edgecomp.core.tfenv import keras


class BridgeError(ModelLoadError):
    """A Keras 3 layer that cannot be rebuilt in tf-keras (named, with its class and the reason)."""


# Keras 3 config keys with no tf-keras counterpart, and the value that makes dropping them a no-op.
_DROPPABLE = {"lora_rank": None, "lora_alpha": None, "quantization_config": None, "optional": False,
              "renorm": False, "renorm_clipping": None, "renorm_momentum": None, "pad_to_aspect_ratio": False}
# Settings Keras 3 renamed: class -> {Keras 3 key: tf-keras key}.
_RENAMED = {"LeakyReLU": {"negative_slope": "alpha"}}
# Same name and same formula in both Keras versions.
_SAME_ACTIVATIONS = {"linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "swish", "silu", "elu", "selu",
                     "softplus", "softsign", "exponential", "mish", "leaky_relu", "gelu"}
# Keras 3 activations rebuilt from layers (the formula differs or tf-keras lacks the name).
_REBUILT_ACTIVATIONS = {"hard_sigmoid", "hard_silu", "hard_swish"}
# Plain layers whose configs carry the same keys in both versions, up to the droppable ones.
_SAME_CONFIG = {
    "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense", "BatchNormalization",
    "LayerNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "MaxPooling2D",
    "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling1D", "AveragePooling1D",
    "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Concatenate", "Reshape", "Flatten", "Permute", "Dropout", "SpatialDropout2D",
    "GaussianDropout", "GaussianNoise", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Rescaling",
    "Normalization", "Identity",
}


def _initializer_like(value):
    """Keras 3 serialised objects ({module, class_name, config}) as tf-keras' {class_name, config}."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        inner = {k: v for k, v in (value["config"] or {}).items() if k not in ("input_axes", "output_axes")
                 or v is not None}
        return {"class_name": value["class_name"], "config": inner}
    return value


def _dtype_name(value):
    if isinstance(value, dict):  # {"class_name": "DTypePolicy", "config": {"name": "float32"}}
        return value.get("config", {}).get("name", "float32")
    return value


def _accepted_keys(layer_class) -> set[str] | None:
    """The keyword arguments `layer_class` accepts, or None when its signature cannot tell."""
    import inspect

    names, base = set(), {"name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size",
                          "input_dim", "autocast", "dynamic"}
    for cls in layer_class.__mro__:
        if cls.__name__ in ("Layer", "object", "Module", "AutoTrackable", "Trackable"):
            break
        init = cls.__dict__.get("__init__")
        if init is not None:
            names |= {p for p in inspect.signature(init).parameters if p not in ("self", "args", "kwargs")}
    return names | base


def translate_config(layer_name: str, class_name: str, config: dict) -> tuple[type, dict]:
    """(tf-keras class, tf-keras config) for one Keras 3 layer.

    Raises:
        BridgeError: the class is not one the bridge knows, or a setting has no tf-keras twin.
    """
    if class_name not in _SAME_CONFIG and class_name != "InputLayer":
        raise BridgeError(
            f"layer {layer_name!r} ({class_name}) cannot be brought from Keras 3 to tf-keras: the bridge "
            f"rebuilds only {', '.join(sorted(_SAME_CONFIG))}. Use a PTQ-only plan (train + quantize), which "
            "converts the Keras 3 model directly, or replace the layer.")
    layer_class = getattr(keras().layers, class_name)
    if class_name == "InputLayer":
        return layer_class, {"batch_input_shape": tuple(config["batch_shape"]),
                             "dtype": _dtype_name(config.get("dtype")), "sparse": config.get("sparse", False),
                             "ragged": config.get("ragged", False), "name": config["name"]}
    accepted = _accepted_keys(layer_class)
    translated = {}
    renamed = _RENAMED.get(class_name, {})
    for key, value in config.items():
        key = renamed.get(key, key)
        if key in accepted:
            translated[key] = _dtype_name(value) if key == "dtype" else _initializer_like(value)
        elif key in _DROPPABLE and value == _DROPPABLE[key] or key == "renorm_momentum":
            continue
        else:
            raise BridgeError(
                f"layer {layer_name!r} ({class_name}) cannot be brought from Keras 3 to tf-keras: its setting "
                f"{key}={value!r} has no tf-keras equivalent. Use a PTQ-only plan, or remove the setting.")
    if class_name == "Normalization":  # Keras 3 writes the axis as a tuple; both accept a list
        translated["axis"] = list(translated["axis"]) if isinstance(translated.get("axis"), tuple) \
            else translated.get("axis")
    return layer_class, translated


def activation_of(layer_name: str, class_name: str, config: dict) -> str | None:
    """The activation a layer applies (Activation layers and Conv/Dense `activation=`), or None."""
    activation = config.get("activation")
    if activation is None:
        return None
    if isinstance(activation, dict):  # a serialised function object
        activation = activation.get("config", activation.get("class_name"))
    if not isinstance(activation, str) or activation not in _SAME_ACTIVATIONS | _REBUILT_ACTIVATIONS:
        raise BridgeError(
            f"layer {layer_name!r} ({class_name}) uses activation {activation!r}, which the bridge does not "
            f"map to tf-keras (known: {', '.join(sorted(_SAME_ACTIVATIONS | _REBUILT_ACTIVATIONS))}). Use a "
            "PTQ-only plan, which converts the Keras 3 model directly.")
    return activation


def needs_rebuilt_activation(activation: str | None) -> bool:
    return activation in _REBUILT_ACTIVATIONS


def rebuilt_activation(activation: str, tensor, name: str):
    """Keras 3's hard_sigmoid / hard_silu from plain tf-keras layers, applied to `tensor`.

    hard_sigmoid(x) = relu6(x + 3) / 6; hard_silu(x) = x * hard_sigmoid(x) (Keras 3 definitions).
    The last layer carries `name`, so the graph keeps the Keras 3 layer's name at its output.
    """
    layers = keras().layers
    gate_name = name if activation == "hard_sigmoid" else f"{name}_gate"
    shifted = layers.Rescaling(1.0, offset=3.0, name=f"{name}_plus3")(tensor)
    clipped = layers.ReLU(6.0, name=f"{name}_relu6")(shifted)
    gate = layers.Rescaling(1.0 / 6.0, name=gate_name)(clipped)
    if activation == "hard_sigmoid":
        return gate
    return layers.Multiply(name=name)([tensor, gate])


# Keras 3 operations (module keras.src.ops.*) that appear in functional graphs as `x + 3.0`,
# `x * (1 / 6)`: a tensor with a Python number becomes a Rescaling; two tensors a merge layer.
_OP_MERGE = {"Add": "Add", "Multiply": "Multiply", "Subtract": "Subtract"}


def translate_operation(op_name: str, class_name: str, args: list) -> Callable:
    """A function (tf-keras tensors...) -> tf-keras tensor for one Keras 3 operation node.

    Raises:
        BridgeError: an operation with no tf-keras layer equivalent.
    """
    layers = keras().layers
    tensors = [a for a in args if not isinstance(a, (int, float))]
    numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
    if class_name in _OP_MERGE and len(tensors) == 2 and not numbers:
        return lambda *inputs: getattr(layers, _OP_MERGE[class_name])(name=op_name)(list(inputs))
    if class_name in ("Add", "Subtract", "Multiply", "TrueDivide", "Divide") and len(tensors) == 1 \
            and len(numbers) == 1 and len(args) == 2:
        number = float(numbers[0])
        tensor_first = not isinstance(args[0], (int, float))
        if class_name == "Add":
            scale, offset = 1.0, number
        elif class_name == "Multiply":
            scale, offset = number, 0.0
        elif class_name == "Subtract":
            scale, offset = (1.0, -number) if tensor_first else (-1.0, number)
        elif tensor_first:  # x / number
            scale, offset = 1.0 / number, 0.0
        else:
            raise BridgeError(f"operation {op_name!r} (keras.ops.{class_name}) divides a number by a tensor, "
                              "which has no tf-keras layer; use a PTQ-only plan.")
        return lambda tensor: layers.Rescaling(scale, offset=offset, name=op_name)(tensor)
    raise BridgeError(
        f"operation {op_name!r} (keras.ops.{class_name}) cannot be brought from Keras 3 to tf-keras: the bridge "
        "maps only add/subtract/multiply/divide of a tensor by a number and add/subtract/multiply of two "
        "tensors. Use a PTQ-only plan (train + quantize), which converts the Keras 3 model directly.")
