"""Multiply-accumulate counts of a Keras model's Conv2D, DepthwiseConv2D and Dense layers.

MACs for one image (batch 1). Layers with no multiply-accumulates worth counting (BN, pooling,
activations) are left out: BN folds into the conv at export, and pooling is a comparison.
"""

from __future__ import annotations

import math

from edgecomp.core.tfenv import keras


def layer_macs(layer) -> int:
    """MACs of one layer for a batch of one image; 0 for layers this counter does not cover.

    Conv2D: H_out * W_out * kh * kw * (C_in / groups) * C_out.
    DepthwiseConv2D: H_out * W_out * kh * kw * C_in * depth_multiplier.
    Dense: (product of leading non-batch dims) * units_in * units_out.
    """
    layers = keras().layers
    if isinstance(layer, layers.DepthwiseConv2D):  # a subclass of Conv2D: test it first
        kh, kw, c_in, multiplier = layer.depthwise_kernel.shape
        _, h_out, w_out, _ = layer.output_shape
        return int(h_out * w_out * kh * kw * c_in * multiplier)
    if isinstance(layer, layers.Conv2D):
        kh, kw, c_in_per_group, c_out = layer.kernel.shape  # (kh, kw, C_in / groups, C_out)
        _, h_out, w_out, _ = layer.output_shape
        return int(h_out * w_out * kh * kw * c_in_per_group * c_out)
    if isinstance(layer, layers.Dense):
        units_in, units_out = layer.kernel.shape
        leading = math.prod(d for d in layer.output_shape[1:-1] if d)  # (B, ..., units) -> ...
        return int(leading * units_in * units_out)
    return 0


def count_macs(model) -> dict:
    """Per-layer and total MACs of `model` for one image.

    Returns:
        {"total": int, "layers": {layer_name: macs}} with only the layers that have MACs.
    """
    per_layer = {layer.name: layer_macs(layer) for layer in model.layers}
    per_layer = {name: macs for name, macs in per_layer.items() if macs}
    return {"total": int(sum(per_layer.values())), "layers": per_layer}
