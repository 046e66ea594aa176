"""The prune stage: every method on a tiny real model, global allocation, structured math, errors."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edgecomp.compress.prune import (
    METHODS,
    PruneConfig,
    global_layer_sparsity,
    kernel_sparsity,
    m_by_n_mask,
    prune_model,
    run_prune,
)
from edgecomp.compress.prune_structured import remove_filters, why_not_prunable
from edgecomp.core.errors import ConfigError, UsageError
from edgecomp.core.tfenv import keras


def _copy(model):
    clone = keras().models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_prunes_and_fine_tunes(method, tiny_model, fmnist_small):
    before = [w.copy() for w in tiny_model.get_weights()]
    amount = {} if method == "2:4" else {"sparsity": 0.5}  # 2:4 fixes its own sparsity
    pruned, info = prune_model(tiny_model, PruneConfig(method=method, epochs=1, batch_size=64, **amount),
                               fmnist_small)
    assert all(np.array_equal(a, b) for a, b in zip(before, tiny_model.get_weights())), "input model changed"
    assert info["skipped_layers"] == ["stage1_conv1", "logits"]
    assert "fine_tune" in info and info["fine_tune"]["epochs"] == 1
    assert not any("prune_low_magnitude" in layer.name for layer in pruned.layers), "wrappers not stripped"
    layers = info["sparsity"]["layers"]
    if method == "structured":
        assert info["params"]["after"] < info["params"]["before"]
        assert info["macs"]["after"] < info["macs"]["before"]
        assert info["filters"]["stage2_conv1"] == {"before": 8, "after": 4}
    else:
        assert layers["stage1_conv1"]["sparsity"] == 0 and layers["logits"]["sparsity"] == 0
        for name in ("stage2_conv1", "fc1"):
            assert layers[name]["sparsity"] > 0.2
    if method == "local":
        assert layers["fc1"]["sparsity"] == pytest.approx(0.5, abs=0.005)
    if method == "2:4":
        kernel = pruned.get_layer("fc1").get_weights()[0]  # (C_in, C_out): groups of 4 along C_in
        groups = kernel.T.reshape(-1, 4)
        assert np.all((groups == 0).sum(1) >= 2)


def test_global_ranks_all_layers_together(tiny_model, fmnist_small):
    names = ["stage2_conv1", "fc1"]
    shares = global_layer_sparsity(tiny_model, names, 0.7)
    sizes = {n: tiny_model.get_layer(n).get_weights()[0].size for n in names}
    overall = sum(shares[n] * sizes[n] for n in names) / sum(sizes.values())
    assert overall == pytest.approx(0.7, abs=0.01)
    assert abs(shares["stage2_conv1"] - shares["fc1"]) > 0.02, shares

    # Make stage2_conv1 far more redundant (10x smaller weights): global pruning must take more from it.
    redundant = _copy(tiny_model)
    layer = redundant.get_layer("stage2_conv1")
    layer.set_weights([w * 0.1 for w in layer.get_weights()])
    pruned, info = prune_model(redundant, PruneConfig(method="global", sparsity=0.7, epochs=1, batch_size=64),
                               fmnist_small)
    layers = kernel_sparsity(pruned)["layers"]
    assert layers["stage2_conv1"]["sparsity"] > layers["fc1"]["sparsity"] + 0.1
    # Ranked alone it would lose every weight; the cap keeps a path through the layer.
    assert info["target_layer_sparsity"]["stage2_conv1"] == 0.95
    zeros = sum(layers[n]["sparsity"] * layers[n]["weights"] for n in names)
    assert zeros / sum(layers[n]["weights"] for n in names) == pytest.approx(0.7, abs=0.01)


def test_structured_keeps_exact_activations_of_kept_channels(tiny_model, fmnist_small):
    result = remove_filters(tiny_model, {"stage2_conv1": 0.5, "fc1": 0.5}, "l1")
    smaller = result.model
    assert smaller.count_params() < tiny_model.count_params()
    images = fmnist_small.images("test", 64)

    def activations(model, name):
        return keras().Model(model.input, model.get_layer(name).output).predict(images, verbose=0)

    kept_conv, kept_fc = result.kept["stage2_conv1"], result.kept["fc1"]
    assert len(kept_conv) == 4 and len(kept_fc) == 8
    np.testing.assert_allclose(activations(smaller, "stage2_relu1"),
                               activations(tiny_model, "stage2_relu1")[..., kept_conv], atol=1e-5)
    # The kept L1 norms are the largest ones.
    scores = np.abs(tiny_model.get_layer("stage2_conv1").get_weights()[0]).sum((0, 1, 2))
    assert scores[kept_conv].min() >= np.delete(scores, kept_conv).max()

    # End to end: zeroing the removed channels in the original (BN gamma and beta -> output 0, fc1
    # columns -> unit 0) must give the pruned model's logits, which checks the Flatten row mapping.
    silenced = _copy(tiny_model)
    bn = silenced.get_layer("stage2_bn1")
    gamma, beta, mean, var = bn.get_weights()
    dropped = np.setdiff1d(np.arange(8), kept_conv)
    gamma[dropped], beta[dropped] = 0, 0
    bn.set_weights([gamma, beta, mean, var])
    fc1 = silenced.get_layer("fc1")
    kernel, bias = fc1.get_weights()
    dropped_fc = np.setdiff1d(np.arange(16), kept_fc)
    kernel[:, dropped_fc], bias[dropped_fc] = 0, 0
    fc1.set_weights([kernel, bias])
    np.testing.assert_allclose(smaller.predict(images, verbose=0), silenced.predict(images, verbose=0),
                               atol=1e-4)


def _residual_model():
    layers = keras().layers
    inputs = keras().Input((28, 28, 1))
    stem = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    branch = layers.Conv2D(8, 3, padding="same", name="branch")(stem)
    merged = layers.Add(name="add")([stem, branch])
    head = layers.Conv2D(8, 3, padding="same", name="head")(merged)
    outputs = layers.Dense(10, name="logits")(layers.Flatten()(head))
    return keras().Model(inputs, outputs)


def test_structured_prunes_a_residual_add_as_one_channel_group(fmnist_small):
    """stem and branch meet at the Add: both lose the same channels, and the pruned model computes
    exactly what the original computes with those channels silenced."""
    model = _residual_model()
    assert why_not_prunable(model, model.get_layer("branch")) is None
    pruned, info = prune_model(model, PruneConfig(method="structured", sparsity=0.5, epochs=0,
                                                  skip_layers=["logits"]), fmnist_small)
    assert info["filters"] == {name: {"before": 8, "after": 4} for name in ("stem", "branch", "head")}
    assert info["groups"] == [{"members": ["stem", "branch"], "merges": ["add"], "before": 8, "after": 4}]
    assert info["left_whole"] == {}
    silenced = _copy(model)
    # Which 4 of the 8 filters were kept, read back from the pruned stem's kernel (3, 3, 1, 4).
    stem_kernel = pruned.get_layer("stem").get_weights()[0]
    full_kernel = model.get_layer("stem").get_weights()[0]
    kept = [int(np.flatnonzero(np.all(full_kernel == stem_kernel[..., i:i + 1], axis=(0, 1, 2)))[0])
            for i in range(4)]
    dropped = np.setdiff1d(np.arange(8), kept)
    for name in ("stem", "branch"):
        kernel, bias = silenced.get_layer(name).get_weights()
        kernel[..., dropped], bias[dropped] = 0, 0
        silenced.get_layer(name).set_weights([kernel, bias])
    images = fmnist_small.images("test", 32)
    silenced_add = keras().Model(silenced.input, silenced.get_layer("add").output).predict(images, verbose=0)
    pruned_add = keras().Model(pruned.input, pruned.get_layer("add").output).predict(images, verbose=0)
    np.testing.assert_allclose(pruned_add, silenced_add[..., kept], atol=1e-5)  # (N, 28, 28, 4)
    np.testing.assert_allclose(silenced_add[..., dropped], 0, atol=1e-6)


def test_structured_leaves_a_group_whole_when_one_member_is_skipped(fmnist_small):
    model = _residual_model()
    pruned, info = prune_model(model, PruneConfig(method="structured", sparsity=0.5, epochs=0,
                                                  skip_layers=["stem", "logits"]), fmnist_small)
    assert set(info["left_whole"]) == {"branch"}
    assert "stem" in info["left_whole"]["branch"] and "add" in info["left_whole"]["branch"]
    assert info["filters"] == {"head": {"before": 8, "after": 4}}
    assert pruned.count_params() < model.count_params()


def test_pruned_channels_reaching_a_merge_are_an_internal_error_not_a_usage_error():
    """channel_groups prunes every input of a merge alike; if inputs pruned differently reached one
    anyway, that is an edgecomp bug (exit 1 with a traceback), not a setting the user could fix (exit 2)."""
    from edgecomp.compress.prune_structured import propagate_channels
    from edgecomp.core.errors import EdgecompError, InternalError

    layers = keras().layers
    inputs = keras().Input((8, 8, 1))
    branch_a = layers.Conv2D(4, 3, padding="same", name="branch_a")(inputs)
    branch_b = layers.Conv2D(4, 3, padding="same", name="branch_b")(inputs)
    merged = layers.Add(name="add")([branch_a, branch_b])
    model = keras().Model(inputs, layers.Dense(2)(layers.Flatten()(merged)))
    with pytest.raises(InternalError, match="bug in channel_groups") as err:
        propagate_channels(model, {"branch_a": np.array([0, 1])})
    assert not isinstance(err.value, EdgecompError)


def test_mac_counter_matches_hand_count(tiny_model):
    from edgecomp.models.macs import count_macs

    macs = count_macs(tiny_model)
    # stage1: 28*28 * 3*3*1 * 4; stage2: 14*14 * 3*3*4 * 8; fc1: 392*16; logits: 16*10
    assert macs["layers"] == {"stage1_conv1": 28224, "stage2_conv1": 56448, "fc1": 6272, "logits": 160}
    assert macs["total"] == 91104


def test_m_by_n_mask_layout():
    kernel = np.arange(1, 3 * 3 * 4 * 2 + 1, dtype=np.float32).reshape(3, 3, 4, 2)
    mask = m_by_n_mask(kernel)
    assert mask.shape == kernel.shape and mask.sum() == kernel.size // 2
    assert np.all(mask[..., 2:, :]) and not np.any(mask[..., :2, :])  # the 2 larger of each 4 inputs


@pytest.mark.parametrize("settings, message", [
    ({"sparsity": 1.0}, "less than 1"),
    ({"sparsity": -0.1}, "greater than or equal to 0"),
    ({"layer_sparsity": {"fc1": 1.0}}, "[0, 1)"),
    ({"method": "globl"}, "Did you mean 'global'"),
    ({"sparsity_target": 0.5}, "did you mean 'sparsity'"),
    ({"method": "local", "scope": "conv"}, "pruning method 'local' does not use scope"),
    ({"method": "2:4", "sparsity": 0.7}, "pruning method '2:4' does not use sparsity"),
    ({"method": "global", "sparsity": 0.97}, "above max_layer_sparsity"),
    ({"skip_layers": ["fc1"], "layer_sparsity": {"fc1": 0.5}}, "skip_layers and layer_sparsity"),
])
def test_bad_settings_fail_plan_validation(settings, message):
    from edgecomp.plan.plan import parse_plan

    with pytest.raises(ConfigError, match=None) as err:
        parse_plan({"model": "cnn-tiny", "stages": [{"stage": "train"}, {"stage": "prune", **settings}]})
    assert message in str(err.value)
    with pytest.raises(ValidationError):
        PruneConfig(**settings)


@pytest.mark.parametrize("settings, message", [
    ({"skip_layers": ["stage2_cnv1"]}, "Did you mean 'stage2_conv1'"),
    ({"layer_sparsity": {"fc2": 0.5}}, "Did you mean 'fc1'"),
    ({"layer_sparsity": {"stage1_relu1": 0.5}}, "no kernel to prune"),
    ({"method": "structured", "sparsity": 0.95}, "would remove all of them"),
    ({"method": "structured", "layer_sparsity": {"fc1": 0.99}}, "would remove all of them"),
    ({"method": "2:4", "skip_layers": ["logits"]}, "input channels in groups of 4"),
    ({"method": "structured", "scope": "conv", "layer_sparsity": {"fc1": 0.5}}, "outside scope"),
    ({"layer_sparsity": {"logits": 0.5}}, "skip_layers and layer_sparsity"),  # logits is skipped by default
])
def test_bad_settings_fail_before_training(settings, message, tiny_model, fmnist_small, monkeypatch):
    from edgecomp.compress import fitting

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the settings were checked")

    monkeypatch.setattr(fitting, "fit", no_training)
    with pytest.raises(UsageError) as err:
        prune_model(tiny_model, PruneConfig(epochs=1, **settings), fmnist_small)
    assert message in str(err.value)


def test_stage_marks_the_model_pruned_for_export(tiny_model, fmnist_small, tmp_path):
    from edgecomp.compress.context import RunContext
    from edgecomp.plan.plan import parse_plan

    plan = parse_plan({"model": "cnn-tiny", "stages": [{"stage": "train"}, {"stage": "prune", "epochs": 0}]})
    ctx = RunContext(plan=plan, data=fmnist_small, run_dir=tmp_path, model=tiny_model)
    info = run_prune(ctx, plan.stages[1])
    assert ctx.model is not tiny_model
    assert ctx.export_inputs.pruned is True
    assert info["sparsity"]["layers"]["fc1"]["sparsity"] == pytest.approx(0.5, abs=0.005)
    assert info["settings"]["method"] == "local" and info["params"]["before"] == info["params"]["after"]
