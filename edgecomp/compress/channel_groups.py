"""Channel groups for structured pruning: the layers whose output channels must be removed together.

A conv's output channels flow through channel-wise layers (BatchNormalization, activations,
pooling, padding, depthwise convs, scalar Rescaling) until a Conv2D / Dense consumes them (it
absorbs the removal by losing input channels). An elementwise merge (Add, Multiply, ...) ties its
inputs together: channel c of one input meets channel c of the others, so every conv feeding the
merge joins the group and loses the same channels. That is how residual streams (MobileNetV2's
projection convs feeding the Adds) and squeeze-and-excitation gates (the excite conv feeding a
Multiply with the expanded features) are pruned consistently, as in Fang et al., "DepGraph:
Towards Any Structural Pruning" (CVPR 2023). A group that reaches the model output, the model
input, a Concatenate or any layer this module cannot follow is left whole, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgecomp.compress.qat import layer_producers
from edgecomp.core.tfenv import keras

MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def _layers():
    return keras().layers

def passthrough_kinds() -> tuple:
    """Layers whose output channel c depends only on input channel c (per-channel weights allowed)."""
    layers = _layers()
    return (layers.BatchNormalization, layers.ReLU, layers.Activation, layers.LeakyReLU, layers.ELU,
            layers.PReLU, layers.MaxPooling2D, layers.AveragePooling2D, layers.Dropout, layers.SpatialDropout2D,
            layers.GaussianDropout, layers.GaussianNoise, layers.GlobalAveragePooling2D,
            layers.GlobalMaxPooling2D, layers.ZeroPadding2D, layers.Cropping2D, layers.UpSampling2D)

def is_filter_layer(layer) -> bool:
    """Conv2D (not depthwise, not transposed, not grouped) and Dense: outputs that can be removed."""
    layers = _layers()
    if isinstance(layer, (layers.DepthwiseConv2D, layers.Conv2DTranspose)):
        return False
    if isinstance(layer, layers.Conv2D):
        return getattr(layer, "groups", 1) == 1
    return isinstance(layer, layers.Dense)

def is_channel_reshape(layer) -> bool:
    """A Reshape that only adds or drops size-1 axes in front of the channels: (C,) <-> (1, 1, C)."""
    if not isinstance(layer, _layers().Reshape):
        return False
    source, target = tuple(layer.input_shape[1:]), tuple(layer.target_shape)
    return source[-1:] == target[-1:] and all(d == 1 for d in source[:-1] + target[:-1])

def is_scalar_rescaling(layer) -> bool:
    import numpy as np

    if not isinstance(layer, _layers().Rescaling):
        return False
    return np.size(layer.scale) == 1 and np.size(layer.offset) == 1

def follows_channels(layer) -> bool:
    """Channel c in, channel c out: passthrough layers, depthwise convs (multiplier 1), channel reshapes."""
    if isinstance(layer, passthrough_kinds()):
        return not (isinstance(layer, _layers().Activation) and "softmax" in str(layer.get_config()["activation"]))
    if isinstance(layer, _layers().DepthwiseConv2D):
        return layer.depth_multiplier == 1
    return is_channel_reshape(layer) or is_scalar_rescaling(layer)

def is_merge(layer) -> bool:
    return type(layer).__name__ in MERGES

@dataclass
class ChannelGroup:
    """Layers that lose the same output channels; `reason` is set when the group must stay whole."""

    members: list[str] = field(default_factory=list)  # filter layers whose outputs are pruned together
    carriers: set[str] = field(default_factory=set)  # layers whose outputs carry the group's channels
    merges: list[str] = field(default_factory=list)
    reason: str | None = None

def graph_links(model) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(producers, consumers): layer name -> names of the layers it reads / that read it, in this model."""

    producers = layer_producers(model)
    consumers: dict[str, list[str]] = {layer.name: [] for layer in model.layers}
    for name, sources in producers.items():
        for source in sources:
            consumers[source].append(name)
    return producers, consumers

def _describe(layer) -> str:
    return f"{layer.name} ({type(layer).__name__})"

def channel_group(model, start: str, links=None) -> ChannelGroup:
    """The group of filter layers tied to `start`'s output channels.

    Walks forward from every carrier to its consumers, and backward from every merge (and
    every carrier reached from a merge) to the producers of its other inputs.
    """
    producers, consumers = links or graph_links(model)
    outputs = set(model.output_names)
    group = ChannelGroup(members=[start], carriers={start})
    queue = [start]
    while queue and group.reason is None:
        name = queue.pop(0)
        layer = model.get_layer(name)
        if name in outputs:
            group.reason = f"its channels reach the model output through {name}"
            break
        if len(producers.get(name, [])) > 1 and not is_merge(layer):
            group.reason = f"{_describe(layer)} takes several inputs"
            break
        for consumer_name in consumers[name]:
            consumer = model.get_layer(consumer_name)
            if is_filter_layer(consumer) or consumer_name in group.carriers:
                continue  # absorbs the removal by losing input channels, or already followed
            if isinstance(consumer, _layers().Flatten):
                flat_consumers = [model.get_layer(n) for n in consumers[consumer_name]]
                if all(isinstance(c, _layers().Dense) for c in flat_consumers) and consumer_name not in outputs:
                    group.carriers.add(consumer_name)  # Dense rows are remapped; nothing to follow beyond
                    continue
                group.reason = f"it reaches {_describe(consumer)}, which feeds something other than Dense"
                break
            if follows_channels(consumer) or is_merge(consumer):
                group.carriers.add(consumer_name)
                queue.append(consumer_name)
                continue
            group.reason = (f"it feeds {_describe(consumer)}; only channel-wise layers, elementwise merges "
                            "and Conv2D/Dense consumers can follow removed channels")
            break
        if group.reason or name in group.members:
            continue
        # A carrier that is not a pruned conv: everything feeding it must carry the same channels.
        if is_merge(layer):
            group.merges.append(name)
        for producer_name in producers.get(name, []):
            if producer_name in group.carriers:
                continue
            producer = model.get_layer(producer_name)
            if is_filter_layer(producer):
                group.members.append(producer_name)
            elif not (follows_channels(producer) or is_merge(producer)):
                group.reason = (f"{_describe(layer)} also takes channels from {_describe(producer)}, "
                                "which cannot lose channels")
                break
            group.carriers.add(producer_name)
            queue.append(producer_name)
    return group
