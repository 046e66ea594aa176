"""The `prune` stage: magnitude pruning (local, global, 2:4) with tfmot, or filter removal.

Unstructured methods leave a plain Keras model whose kernels hold zeros (tfmot's `strip_pruning`
runs after fine-tuning, and the stage adds `UpdatePruningStep` itself); `structured` leaves a
genuinely smaller model (see `prune_structured`). The stage sets `ctx.export_inputs.pruned` so a
later QAT stage keeps the zeros (tfmot's prune-preserving quantization scheme).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgecomp.compress.bn_stats import reestimate_and_measure
from edgecomp.compress.channel_groups import graph_links
from edgecomp.compress.context import RunContext
from edgecomp.compress.fine_tune import fine_tune, stage_teacher
from edgecomp.compress.prune_structured import is_filter_layer, kept_count, remove_filters, why_not_prunable
from edgecomp.core.errors import InternalError, UsageError
from edgecomp.core.progress import step
from edgecomp.core.registry import Registry
from edgecomp.core.tfenv import keras, tfmot
from edgecomp.models.macs import count_macs
from edgecomp.plan.stage_settings import PRUNE_METHODS, PruneConfig


@dataclass(frozen=True)
class PruneMethod:
    """One pruning method's code; the settings it takes are PRUNE_METHODS[name] (stage_settings)."""

    name: str
    run: Callable  # (model, cfg, data, targets: {layer: sparsity}, teacher or None) -> (model, info)

METHODS: Registry[PruneMethod] = Registry("pruning method")


def kernel_layers(model) -> list:
    """Conv2D, DepthwiseConv2D and Dense layers: the ones whose kernels are pruned."""
    layers = keras().layers
    return [layer for layer in model.layers if isinstance(layer, (layers.Conv2D, layers.Dense))]

def _kernel(layer) -> np.ndarray:
    return layer.get_weights()[0]

def kernel_sparsity(model) -> dict:
    """Fraction of exactly-zero kernel weights per prunable layer and over all of them."""
    per_layer, zeros, total = {}, 0, 0
    for layer in kernel_layers(model):
        kernel = _kernel(layer)
        layer_zeros = int(np.count_nonzero(kernel == 0))
        per_layer[layer.name] = {"sparsity": layer_zeros / kernel.size, "weights": int(kernel.size)}
        zeros, total = zeros + layer_zeros, total + kernel.size
    return {"overall": zeros / total if total else 0.0, "layers": per_layer}

def _check_names(model, names, setting: str) -> None:
    known = [layer.name for layer in model.layers]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{setting} names layer {name!r}, which model {model.name} does not have.{hint} "
                             f"Prunable layers: {', '.join(layer.name for layer in kernel_layers(model))}.")

def default_skip_layers(model) -> list[str]:
    """The first conv (few weights, sees raw pixels) and the last classifier (one row per class)."""
    prunable = kernel_layers(model)
    dense = [layer for layer in prunable if isinstance(layer, keras().layers.Dense)]
    skip = [prunable[0].name] if prunable else []
    if dense and dense[-1].name not in skip:
        skip.append(dense[-1].name)
    return skip

def resolve_targets(model, cfg: PruneConfig) -> tuple[dict[str, float], list[str]]:
    """Checks the settings against the model; returns ({layer: sparsity}, skipped layers).

    Settings that do not depend on the model (a setting the method does not use, ...) were
    checked when the plan was read; these need the model's layer names.

    Raises:
        UsageError: an unknown layer name, or a layer both skipped (by default) and given a sparsity.
    """
    skip = default_skip_layers(model) if cfg.skip_layers is None else list(cfg.skip_layers)
    _check_names(model, skip, "skip_layers")
    _check_names(model, cfg.layer_sparsity, "layer_sparsity")
    clash = sorted(set(skip) & set(cfg.layer_sparsity))
    if clash:
        raise UsageError(f"layer(s) {', '.join(clash)} are in skip_layers and layer_sparsity; pick one.")
    prunable = {layer.name for layer in kernel_layers(model)}
    not_prunable = sorted(set(cfg.layer_sparsity) - prunable)
    if not_prunable:
        raise UsageError(f"layer_sparsity names {', '.join(not_prunable)}, which have no kernel to prune; "
                         f"prunable layers: {', '.join(sorted(prunable))}.")
    targets = {layer.name: cfg.layer_sparsity.get(layer.name, cfg.sparsity)
               for layer in kernel_layers(model) if layer.name not in skip}
    return targets, skip

# ----------------------------------------------------------------------------- unstructured


def magnitude_mask(kernel: np.ndarray, sparsity: float) -> np.ndarray:
    """Boolean keep-mask zeroing the round(sparsity * size) smallest-|w| weights of `kernel`."""
    drop = int(round(sparsity * kernel.size))
    keep = np.ones(kernel.size, bool)
    keep[np.argsort(np.abs(kernel).reshape(-1), kind="stable")[:drop]] = False
    return keep.reshape(kernel.shape)

def m_by_n_mask(kernel: np.ndarray, m: int = 2, n: int = 4) -> np.ndarray:
    """Keep-mask with m zeros in every n consecutive weights along the input axis, in tfmot's
    layout: Dense (C_in, C_out) -> (C_out, C_in); Conv2D (kh, kw, C_in, C_out) -> (C_out, kh*kw*C_in)."""
    rows = np.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)  # (C_out, fan_in)
    groups = np.abs(rows).reshape(-1, n)  # (C_out * fan_in / n, n)
    keep = np.ones_like(groups, bool)
    np.put_along_axis(keep, np.argsort(groups, axis=1, kind="stable")[:, :m], False, axis=1)
    return np.moveaxis(keep.reshape(rows.shape).reshape((kernel.shape[-1],) + kernel.shape[:-1]), 0, -1)

def global_layer_sparsity(model, layer_names: list[str], sparsity: float,
                          max_layer_sparsity: float = 0.95) -> dict[str, float]:
    """One magnitude ranking over all named layers' kernels: the round(sparsity * total)
    smallest |w| of the whole model are pruned, so each layer's share follows its redundancy.

    A layer whose share would pass `max_layer_sparsity` (a layer of zeros cuts the network) is
    held at that cap and the rest of the budget is ranked again over the other layers.
    """
    kernels = {name: np.abs(_kernel(model.get_layer(name))).reshape(-1) for name in layer_names}
    budget = int(round(sparsity * sum(k.size for k in kernels.values())))
    capped: dict[str, float] = {}
    while True:
        free = [name for name in layer_names if name not in capped]
        drop = budget - sum(int(round(cap * kernels[name].size)) for name, cap in capped.items())
        sizes = [kernels[name].size for name in free]
        order = np.argsort(np.concatenate([kernels[name] for name in free]), kind="stable")[:max(0, drop)]
        dropped = np.bincount(np.repeat(np.arange(len(free)), sizes)[order], minlength=len(free))
        shares = {name: float(count / size) for name, count, size in zip(free, dropped, sizes)}
        over = [name for name in free if shares[name] > max_layer_sparsity]
        if not over:
            return {name: capped.get(name, shares.get(name)) for name in layer_names}
        capped.update({name: max_layer_sparsity for name in over})

def _one_shot(model, targets: dict[str, float], m_by_n: tuple[int, int] | None):
    pruned = keras().models.clone_model(model)
    pruned.set_weights(model.get_weights())
    for name, sparsity in targets.items():
        layer = pruned.get_layer(name)
        weights = layer.get_weights()
        mask = m_by_n_mask(weights[0], *m_by_n) if m_by_n else magnitude_mask(weights[0], sparsity)
        layer.set_weights([weights[0] * mask] + weights[1:])
    return pruned

def _ramp_end_step(cfg: PruneConfig, total_steps: int) -> tuple[int, int]:
    """(mask update frequency, the step at which the schedule reaches its target sparsity; 0: from the start)."""
    frequency = max(1, total_steps // 20)
    end_step = frequency * (int(0.75 * total_steps) // frequency)
    return frequency, 0 if cfg.schedule == "constant" else max(0, end_step)

def first_epoch_at_target(cfg: PruneConfig, total_steps: int, steps_per_epoch: int) -> int:
    """The first epoch (0-based) that ends at the target sparsity: the earliest whose weights
    restore_best may keep. The last mask update falls on step end_step; counting it as the next
    step keeps tfmot's step counter (one behind or not) from ever letting an earlier epoch in."""
    _, end_step = _ramp_end_step(cfg, total_steps)
    return 0 if end_step == 0 else max(0, math.ceil((end_step + 1) / max(1, steps_per_epoch)) - 1)

def _schedule(cfg: PruneConfig, sparsity: float, total_steps: int):
    """tfmot schedule: polynomial ramp 0 -> sparsity over the first ~3/4 of fine-tuning, or constant."""
    sparsity_api = tfmot().sparsity.keras
    frequency, end_step = _ramp_end_step(cfg, total_steps)
    if end_step <= 0:
        return sparsity_api.ConstantSparsity(sparsity, begin_step=0, frequency=frequency)
    return sparsity_api.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0,
                                        end_step=end_step, frequency=frequency)

def fine_tune_pruned(model, cfg: PruneConfig, data, targets: dict[str, float], teacher=None,
                     m_by_n: tuple[int, int] | None = None):
    """Wraps each target layer in `prune_low_magnitude`, fine-tunes (on the KD loss against
    `teacher` when there is one), then strips the wrappers.

    Returns:
        A plain Keras model (no pruning wrappers) whose kernels hold the zeros, and fit's info.
    """
    if cfg.epochs == 0:
        return _one_shot(model, targets, m_by_n), {"epochs": 0, "one_shot": True}
    sparsity_api = tfmot().sparsity.keras
    base = keras().models.clone_model(model)  # a copy, so the input model keeps its weights
    base.set_weights(model.get_weights())
    steps_per_epoch = math.ceil(data.count("train") / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch

    def wrap(layer):
        if layer.name not in targets:
            return layer
        return sparsity_api.prune_low_magnitude(
            layer, pruning_schedule=_schedule(cfg, targets[layer.name], total_steps), sparsity_m_by_n=m_by_n)

    wrapped = keras().models.clone_model(base, clone_function=wrap)
    # UpdatePruningStep advances the masks' step counter; without it tfmot raises mid-fit.
    info = fine_tune(wrapped, data, cfg, f"prune ({cfg.method})", [sparsity_api.UpdatePruningStep()], teacher,
                     first_eligible_epoch=first_epoch_at_target(cfg, total_steps, steps_per_epoch))
    return sparsity_api.strip_pruning(wrapped), info

def run_local(model, cfg: PruneConfig, data, targets: dict[str, float], teacher=None):
    pruned, info = fine_tune_pruned(model, cfg, data, targets, teacher)
    return pruned, {"fine_tune": info, "target_layer_sparsity": targets}

def run_global(model, cfg: PruneConfig, data, targets: dict[str, float], teacher=None):
    # sparsity <= max_layer_sparsity was checked when the plan was read.
    per_layer = global_layer_sparsity(model, list(targets), cfg.sparsity, cfg.max_layer_sparsity)
    pruned, info = fine_tune_pruned(model, cfg, data, per_layer, teacher)
    return pruned, {"fine_tune": info, "target_layer_sparsity": per_layer}

def run_2_4(model, cfg: PruneConfig, data, targets: dict[str, float], teacher=None):
    for name in targets:
        kernel = _kernel(model.get_layer(name))
        if kernel.shape[-2] % 4:  # groups of 4 run along the input channels, as in tfmot
            raise UsageError(f"2:4 sparsity needs {name}'s input channels in groups of 4, but it has "
                             f"{kernel.shape[-2]}; add {name} to skip_layers.")
    pruned, info = fine_tune_pruned(model, cfg, data, {name: 0.5 for name in targets}, teacher, m_by_n=(2, 4))
    return pruned, {"fine_tune": info, "pattern": "2 zeros in every 4 consecutive input weights"}

def run_structured(model, cfg: PruneConfig, data, targets: dict[str, float], teacher=None):
    dense = keras().layers.Dense
    in_scope = {name: s for name, s in targets.items()
                if cfg.scope == "both" or (cfg.scope == "dense") == isinstance(model.get_layer(name), dense)}
    out_of_scope = sorted(set(cfg.layer_sparsity) - set(in_scope))
    if out_of_scope:
        raise UsageError(f"layer_sparsity names {', '.join(out_of_scope)}, outside scope {cfg.scope!r}; "
                         "set scope: both or drop them.")

    fractions, left_whole, links = {}, {}, graph_links(model)
    for name, fraction in in_scope.items():
        layer = model.get_layer(name)
        reason = (why_not_prunable(model, layer, set(in_scope), links) if is_filter_layer(layer)
                  else "depthwise convs follow their input")
        if reason and name in cfg.layer_sparsity:
            raise UsageError(f"layer_sparsity asks to remove filters of {name}, but {reason}.")
        if reason:
            left_whole[name] = reason
        else:
            kept_count(layer, fraction)  # raises before any work if every filter would go
            fractions[name] = fraction
    result = remove_filters(model, fractions, cfg.criterion)
    info = {"filters": {name: {"before": result.before[name], "after": int(len(kept))}
                        for name, kept in result.kept.items()},
            "left_whole": left_whole, "groups": result.groups, "criterion": cfg.criterion, "scope": cfg.scope}
    if cfg.epochs:
        info["fine_tune"] = fine_tune(result.model, data, cfg, "prune (structured)", teacher=teacher)
    return result.model, info

for _method in [PruneMethod("local", run_local), PruneMethod("global", run_global), PruneMethod("2:4", run_2_4),
                PruneMethod("structured", run_structured)]:
    if _method.name not in PRUNE_METHODS:  # a bug: every method's settings are declared in stage_settings
        raise InternalError(f"pruning method {_method.name!r} has no entry in edgecomp.plan.stage_settings.PRUNE_METHODS")
    METHODS.register(_method.name)(_method)

def prune_model(model, cfg: PruneConfig, data, teacher=None) -> tuple[object, dict]:
    """Prunes `model` (left unchanged) with `cfg`; returns the new model and the stage info.

    `teacher`: fine-tuning learns its outputs with the KD loss (`teacher_kd`) instead of the labels alone.
    """
    targets, skipped = resolve_targets(model, cfg)
    if not targets:
        raise UsageError(f"no layer of {model.name} is left to prune after skip_layers={skipped}.")
    step(f"pruning {model.name} ({cfg.method}, sparsity {cfg.sparsity:.0%}, {len(targets)} layer(s))")
    pruned, method_info = METHODS.get(cfg.method).run(model, cfg, data, targets, teacher)
    before_macs, after_macs = count_macs(model), count_macs(pruned)
    info = {
        "settings": cfg.model_dump(), "skipped_layers": skipped,
        "params": {"before": int(model.count_params()), "after": int(pruned.count_params())},
        "macs": {"before": before_macs["total"], "after": after_macs["total"], "layers": after_macs["layers"]},
        "sparsity": kernel_sparsity(pruned),
    }
    info.update(method_info)
    return pruned, info

def run_prune(ctx: RunContext, cfg: PruneConfig) -> dict:

    if ctx.model is None:
        raise UsageError("the prune stage needs a model: put a `train` stage (it also loads files) before it.")
    ctx.model, info = prune_model(ctx.model, cfg, ctx.data, stage_teacher(ctx, cfg, "prune"))
    # Pruned (and fine-tuned) weights change every activation downstream: measure BN's statistics again.
    info["bn_statistics"] = reestimate_and_measure(ctx.model, ctx.data, cfg.batch_size, seed=ctx.plan.seed)
    # QAT switches to tfmot's prune-preserving scheme for a model whose kernels hold zeros.
    ctx.export_inputs.pruned = ctx.export_inputs.pruned or cfg.method != "structured"
    return info

