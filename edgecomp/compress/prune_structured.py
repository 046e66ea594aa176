"""Structured pruning: remove whole conv filters and dense units, rebuilding a smaller Keras model.

Filters are ranked by the L1 (or L2) norm of their kernel, as in Li et al., "Pruning Filters for
Efficient ConvNets" (ICLR 2017): a filter's score is sum |W[..., o]| over (kh, kw, C_in). Layers
whose outputs meet at an elementwise merge (a residual Add, a squeeze-and-excitation Multiply)
form a channel group (`channel_groups`) and lose the same channels, ranked by their summed,
mean-normalised scores. The kept channels are followed through BatchNormalization, activations,
pooling, dropout, depthwise convs, channel reshapes and Flatten (whose output rows are remapped)
into the next Conv2D / Dense, whose input channels are sliced to match. A layer whose channels
reach the model output, a Concatenate or a layer this module cannot shrink is left whole, and the
report says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edgecomp.compress.channel_groups import (
    channel_group,
    follows_channels,
    graph_links,
    is_channel_reshape,
    is_filter_layer,
    is_merge,
)
from edgecomp.compress.qat import layer_producers
from edgecomp.core.errors import InternalError, UsageError
from edgecomp.core.tfenv import keras

__all__ = ["is_filter_layer", "why_not_prunable", "remove_filters", "kept_count", "choose_kept"]

Criterion = Literal["l1", "l2"]


def why_not_prunable(model, layer, allowed: set[str] | None = None, links=None) -> str | None:
    """None when `layer`'s filters/units can be removed, else the reason they cannot.

    Args:
        model: the functional or sequential model holding `layer`.
        layer: a layer of `model`.
        allowed: names of the layers that may lose channels (None: every filter layer); a layer
            tied by a merge to one outside this set is left whole.
        links: `graph_links(model)`, passed when asking about many layers.
    """
    if not is_filter_layer(layer):
        return f"{type(layer).__name__} has no filters or units to remove"
    group = channel_group(model, layer.name, links)
    if group.reason:
        return group.reason
    outside = [name for name in group.members if allowed is not None and name not in allowed]
    if outside:
        return (f"its channels meet those of {', '.join(outside)} at {', '.join(group.merges)}, which "
                "is skipped (skip_layers or scope); prune both or neither")
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


def choose_kept(model, fractions: dict[str, float], criterion: Criterion) -> tuple[dict[str, np.ndarray], list]:
    """(layer name -> sorted indices of the output filters/units to keep, the multi-layer groups).

    A group keeps the channels with the highest summed score of its members, each member's
    scores divided by their mean so a wide layer does not outvote a narrow one; it removes the
    smallest fraction any member asks for.
    """
    links = graph_links(model)
    kept, groups = {}, []
    for name in fractions:
        if name in kept:
            continue
        group = channel_group(model, name, links)
        members = [member for member in group.members if member in fractions]
        layer = model.get_layer(name)
        keep = max(kept_count(model.get_layer(member), fractions[member]) for member in members)
        scores = sum(filter_scores(model.get_layer(m), criterion) / max(filter_scores(model.get_layer(m),
                                                                                       criterion).mean(), 1e-12)
                     for m in members)
        indices = np.sort(np.argsort(-scores, kind="stable")[:keep])
        for member in members:
            kept[member] = indices
        if len(members) > 1:
            groups.append({"members": members, "merges": group.merges, "before": int(layer.get_weights()[0].shape[-1]),
                           "after": int(keep)})
    return kept, groups


def _flatten_rows(input_shape, channels: np.ndarray) -> np.ndarray:
    """Flatten of (H, W, C) puts channel c of position p at row p * C + c; keep those rows."""
    positions = int(np.prod(input_shape[1:-1]))
    total_channels = input_shape[-1]
    return (np.arange(positions)[:, None] * total_channels + channels[None, :]).reshape(-1)


def propagate_channels(model, kept: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Layer name -> (input channels kept, output channels kept); None means all of them."""
    layers = keras().layers
    producers = layer_producers(model)
    flow: dict[str, tuple] = {}
    for layer in model.layers:
        sources = [flow[name][1] for name in producers.get(layer.name, [])]
        in_keep = sources[0] if sources else None
        if any((s is None) != (in_keep is None) or (s is not None and not np.array_equal(s, in_keep))
               for s in sources):
            raise InternalError(f"{layer.name} merges inputs whose channels were pruned differently; this is a "
                                "bug in channel_groups, please report it.")
        if layer.name in kept:
            out_keep = kept[layer.name]
        elif isinstance(layer, layers.DepthwiseConv2D):
            multiplier = layer.depth_multiplier
            out_keep = None if in_keep is None else (in_keep[:, None] * multiplier + np.arange(multiplier)).reshape(-1)
        elif isinstance(layer, layers.Flatten):
            out_keep = None if in_keep is None else _flatten_rows(layer.input_shape, in_keep)
        elif follows_channels(layer) or is_merge(layer):
            out_keep = in_keep
        else:
            out_keep = None
        flow[layer.name] = (in_keep, out_keep)
    return flow


def _slice_weights(layer, weights: list, in_keep, out_keep) -> list:
    layers = keras().layers
    take = (lambda array, idx, axis: array if idx is None else np.take(array, idx, axis=axis))
    if isinstance(layer, layers.DepthwiseConv2D):
        kernel = take(weights[0], in_keep, 2)  # (kh, kw, C_in, multiplier)
        return [kernel] + [take(w, out_keep, 0) for w in weights[1:]]
    if isinstance(layer, (layers.Conv2D, layers.Dense)):
        kernel = take(take(weights[0], in_keep, weights[0].ndim - 2), out_keep, weights[0].ndim - 1)
        return [kernel] + [take(w, out_keep, 0) for w in weights[1:]]
    if isinstance(layer, layers.BatchNormalization):
        return [take(w, in_keep, 0) for w in weights]  # gamma, beta, moving mean, moving variance: (C,)
    if isinstance(layer, layers.PReLU):
        return [take(w, in_keep, w.ndim - 1) for w in weights]  # alpha: (..., C)
    return weights


@dataclass
class StructuredResult:
    model: object
    kept: dict[str, np.ndarray]
    before: dict[str, int] = field(default_factory=dict)  # layer -> filters/units before
    groups: list[dict] = field(default_factory=list)  # layers pruned together (merged channels)


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
    links = graph_links(model)
    for name in fractions:
        reason = why_not_prunable(model, model.get_layer(name), set(fractions), links)
        if reason:
            raise UsageError(f"cannot remove filters of {name}: {reason}. Add it to skip_layers.")
    kept, groups = choose_kept(model, fractions, criterion)
    flow = propagate_channels(model, kept)

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in kept:
            config["filters" if "filters" in config else "units"] = int(len(kept[layer.name]))
        out_keep = flow[layer.name][1]
        if is_channel_reshape(layer) and out_keep is not None:
            config["target_shape"] = tuple(config["target_shape"][:-1]) + (int(len(out_keep)),)
        return layer.__class__.from_config(config)

    smaller = keras().models.clone_model(model, clone_function=clone_layer)
    for layer in model.layers:
        in_keep, out_keep = flow[layer.name]
        weights = layer.get_weights()
        if weights:
            smaller.get_layer(layer.name).set_weights(_slice_weights(layer, weights, in_keep, out_keep))
    before = {name: int(model.get_layer(name).get_weights()[0].shape[-1]) for name in kept}
    return StructuredResult(model=smaller, kept=kept, before=before, groups=groups)
