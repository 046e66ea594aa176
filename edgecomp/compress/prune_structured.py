"""Structured pruning: remove whole conv filters and dense units, rebuilding a smaller Keras model.

Filters are ranked by the L1 (or L2) norm of their kernel, as in Li et al., "Pruning Filters for
Efficient ConvNets" (ICLR 2017): a filter's score is sum |W[..., o]| over (kh, kw, C_in). The kept
output channels are followed through BatchNormalization, activations, pooling, dropout,
depthwise convs and Flatten (whose output rows are remapped) into the next Conv2D / Dense, whose
input channels are sliced to match. A layer whose output reaches a residual Add, a Concatenate or
any layer this module cannot shrink is left whole, and the report says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edgecomp.errors import InternalError, UsageError
from edgecomp.tfenv import keras

Criterion = Literal["l1", "l2"]


def _kinds():
    layers = keras().layers
    # Layers whose output channel c depends only on input channel c (and may have per-channel weights).
    passthrough = (layers.BatchNormalization, layers.ReLU, layers.Activation, layers.LeakyReLU,
                   layers.MaxPooling2D, layers.AveragePooling2D, layers.Dropout, layers.SpatialDropout2D,
                   layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D, layers.ZeroPadding2D)
    return layers, passthrough


def _inbound(layer) -> list:
    inbound = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else []
    return inbound if isinstance(inbound, list) else [inbound]


def _consumers(model) -> dict[str, list]:
    """Layer name -> the layers of `model` that read its output."""
    consumers: dict[str, list] = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for source in _inbound(layer):
            consumers[source.name].append(layer)
    return consumers


def is_filter_layer(layer) -> bool:
    """Conv2D (not depthwise) and Dense: the layers whose outputs can be removed."""
    layers, _ = _kinds()
    if isinstance(layer, layers.DepthwiseConv2D):
        return False
    return isinstance(layer, (layers.Conv2D, layers.Dense))


def why_not_prunable(model, layer) -> str | None:
    """None when `layer`'s filters/units can be removed, else the reason they cannot.

    Walks every path from the layer's output through channel-preserving layers; each path must
    end in a Conv2D or Dense (which absorbs the change by losing input channels).
    """
    layers, passthrough = _kinds()
    if not is_filter_layer(layer):
        return f"{type(layer).__name__} has no filters or units to remove"
    if isinstance(layer, layers.Conv2D) and getattr(layer, "groups", 1) != 1:
        return "grouped convolutions are left whole"
    output_names = set(model.output_names)
    consumers = _consumers(model)
    frontier, seen = [layer], set()
    while frontier:
        current = frontier.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        if len(current.inbound_nodes) > 1:
            return f"{current.name} is shared (called more than once)"
        if current.name in output_names:
            return f"its channels reach the model output through {current.name}"
        for consumer in consumers[current.name]:
            if is_filter_layer(consumer):
                if isinstance(consumer, layers.Conv2D) and getattr(consumer, "groups", 1) != 1:
                    return f"it feeds the grouped convolution {consumer.name}"
                continue
            if isinstance(consumer, passthrough + (layers.DepthwiseConv2D, layers.Flatten)):
                frontier.append(consumer)
                continue
            return (f"it feeds {consumer.name} ({type(consumer).__name__}; residual adds and "
                    "concatenations are left whole so all their inputs keep matching channels)")
    return None


def filter_scores(layer, criterion: Criterion) -> np.ndarray:
    """One score per output filter/unit: L1 or L2 norm of its kernel slice. Shape (C_out,)."""
    kernel = layer.get_weights()[0]  # Conv2D (kh, kw, C_in, C_out) | Dense (C_in, C_out)
    flat = kernel.reshape(-1, kernel.shape[-1])  # (kh*kw*C_in, C_out)
    return np.abs(flat).sum(0) if criterion == "l1" else np.sqrt((flat ** 2).sum(0))


def kept_count(layer, fraction: float) -> int:
    """How many filters/units survive removing `fraction` of them (rounded to nearest).

    Raises:
        UsageError: the fraction would remove every filter of the layer.
    """
    total = layer.get_weights()[0].shape[-1]
    keep = total - int(round(fraction * total))
    if keep < 1:
        raise UsageError(
            f"pruning {fraction:.0%} of {layer.name}'s {total} filters/units would remove all of them; "
            f"use a fraction below {(total - 0.5) / total:.3f} for this layer (layer_sparsity) or add it "
            "to skip_layers.")
    return keep


def choose_kept(model, fractions: dict[str, float], criterion: Criterion) -> dict[str, np.ndarray]:
    """Layer name -> sorted indices of the output filters/units to keep (highest norms)."""
    kept = {}
    for name, fraction in fractions.items():
        layer = model.get_layer(name)
        keep = kept_count(layer, fraction)
        scores = filter_scores(layer, criterion)
        kept[name] = np.sort(np.argsort(-scores, kind="stable")[:keep])
    return kept


def _flatten_rows(input_shape, channels: np.ndarray) -> np.ndarray:
    """Flatten of (H, W, C) puts channel c of position p at row p * C + c; keep those rows."""
    positions = int(np.prod(input_shape[1:-1]))
    total_channels = input_shape[-1]
    return (np.arange(positions)[:, None] * total_channels + channels[None, :]).reshape(-1)


def propagate_channels(model, kept: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Layer name -> (input channels kept, output channels kept); None means all of them."""
    layers, passthrough = _kinds()
    flow: dict[str, tuple] = {}
    for layer in model.layers:
        sources = _inbound(layer)
        in_keep = flow[sources[0].name][1] if len(sources) == 1 else None
        if len(sources) > 1 and any(flow[s.name][1] is not None for s in sources):
            raise InternalError(f"{layer.name} merges inputs whose channels were pruned; this is a bug in "
                                "why_not_prunable, please report it.")
        if layer.name in kept:
            out_keep = kept[layer.name]
        elif isinstance(layer, layers.DepthwiseConv2D):
            multiplier = layer.depth_multiplier
            out_keep = None if in_keep is None else (in_keep[:, None] * multiplier + np.arange(multiplier)).reshape(-1)
        elif isinstance(layer, layers.Flatten):
            out_keep = None if in_keep is None else _flatten_rows(layer.input_shape, in_keep)
        elif isinstance(layer, passthrough):
            out_keep = in_keep
        else:
            out_keep = None
        flow[layer.name] = (in_keep, out_keep)
    return flow


def _slice_weights(layer, weights: list, in_keep, out_keep) -> list:
    layers, _ = _kinds()
    take = (lambda array, idx, axis: array if idx is None else np.take(array, idx, axis=axis))
    if isinstance(layer, layers.DepthwiseConv2D):
        kernel = take(weights[0], in_keep, 2)  # (kh, kw, C_in, multiplier)
        return [kernel] + [take(w, out_keep, 0) for w in weights[1:]]
    if isinstance(layer, (layers.Conv2D, layers.Dense)):
        kernel = take(take(weights[0], in_keep, weights[0].ndim - 2), out_keep, weights[0].ndim - 1)
        return [kernel] + [take(w, out_keep, 0) for w in weights[1:]]
    if isinstance(layer, layers.BatchNormalization):
        return [take(w, in_keep, 0) for w in weights]  # gamma, beta, moving mean, moving variance: (C,)
    return weights


@dataclass
class StructuredResult:
    model: object
    kept: dict[str, np.ndarray]
    before: dict[str, int] = field(default_factory=dict)  # layer -> filters/units before


def remove_filters(model, fractions: dict[str, float], criterion: Criterion = "l1") -> StructuredResult:
    """Builds a smaller copy of `model` without the lowest-norm filters/units of each named layer.

    Args:
        model: a functional or sequential Keras model.
        fractions: layer name -> fraction of its filters/units to remove, in [0, 1).
        criterion: rank filters by "l1" or "l2" norm of their kernel.

    Returns:
        The new model (weights copied, untrained further), the kept indices per layer and the
        filter counts before.

    Raises:
        UsageError: a layer cannot be pruned structurally, or would lose every filter.
    """
    for name in fractions:
        reason = why_not_prunable(model, model.get_layer(name))
        if reason:
            raise UsageError(f"cannot remove filters of {name}: {reason}. Add it to skip_layers.")
    kept = choose_kept(model, fractions, criterion)
    flow = propagate_channels(model, kept)

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in kept:
            config["filters" if "filters" in config else "units"] = int(len(kept[layer.name]))
        return layer.__class__.from_config(config)

    smaller = keras().models.clone_model(model, clone_function=clone_layer)
    for layer in model.layers:
        in_keep, out_keep = flow[layer.name]
        weights = layer.get_weights()
        if weights:
            smaller.get_layer(layer.name).set_weights(_slice_weights(layer, weights, in_keep, out_keep))
    before = {name: int(model.get_layer(name).get_weights()[0].shape[-1]) for name in kept}
    return StructuredResult(model=smaller, kept=kept, before=before)
