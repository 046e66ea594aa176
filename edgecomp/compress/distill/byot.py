"""Be Your Own Teacher (Zhang et al., ICCV 2019, arXiv:1905.08094): self-distillation through
shallow exits attached to the plan's own model.

Each exit is the paper's attention-based shallow classifier: an attention module, a bottleneck
(stride-2 Conv-BN-ReLU blocks down to the deepest feature map's size), global pooling, a
projection to the deepest feature width (the hint features) and a classifier. All exits train at
once with `losses.byot_loss`. The result is the original network with the heads dropped (same
parameters and cost as before: the backbone runs on the un-attended features, so no attention
layer is on its path), or with `exit: k` the network truncated at exit k (backbone up to that
exit + exit k's attention module and head, as the paper's shallow classifier: genuinely smaller).

The attention module (`attention: true`, the default): the paper puts one on each shallow
classifier (its Figure 2) without listing its layers; they follow the first author's code for the
same design in SCAN (Zhang et al., NeurIPS 2019; ArchipLab-LinfengZhang/
pytorch-scalable-neural-networks, sresnet.py; luanyunteng/pytorch-be-your-own-teacher, a
re-implementation, has none). On the exit's (B, H, W, C) map: a 3x3 stride-2 conv (C filters) +
BN + ReLU, a 4x4 stride-2 transposed conv (C filters) back up + BN + sigmoid, a spatial-and-channel
map in (0, 1) of the input's shape, multiplied elementwise with the input; the bottleneck runs on
the product. It costs 25*C^2 + 8*C parameters per exit (6.5k at C=16, 42% of cnn-student),
recorded per exit as `attention_params`. Differences from that code: no conv biases (BN follows
each conv, so a bias only shifts what BN removes), and an odd H or W (7 -> 4 -> 8) is cropped back
to the input's size at the bottom/right (the authors' ResNets only see even sizes).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from edgecomp.compress.distill.base import DistillConfig, DistillMethod, check_outputs_logits, register
from edgecomp.compress.distill.losses import byot_loss, cross_entropy
from edgecomp.compress.fitting import fit_wrapper
from edgecomp.core.errors import InternalError, UsageError
from edgecomp.core.progress import step
from edgecomp.core.tfenv import keras, tf
from edgecomp.data.pipeline import stream
from edgecomp.models.keras_internals import is_graph_network


@dataclass
class ByotNetwork:
    """The plan's model plus its exit heads, sharing the backbone's layers."""

    model: object  # the original network (its layers are trained in place)
    exit_names: list  # layer names, shallowest first
    exit_logits: list  # symbolic (B, K) per exit
    exit_features: list  # symbolic (B, D) per exit
    final_features: object  # symbolic (B, D): input of the model's last layer
    attention_params: list  # parameters of each exit's attention module ([] without attention)

    def trainer_model(self):
        """One functional model with every output the loss needs."""
        outputs = [self.model.output, self.final_features] + self.exit_logits + self.exit_features
        return keras().Model(self.model.input, outputs, name=f"{self.model.name}_byot")

    def truncated(self, exit_index: int):
        """The network ending at exit `exit_index` (1 = shallowest), a plain functional model."""
        return keras().Model(self.model.input, self.exit_logits[exit_index - 1],
                             name=f"{self.model.name}_exit{exit_index}")

def default_exits(model) -> list[str]:
    """The downsampling boundaries before the last one: `stageN_pool` layers, else pooling layers."""
    named = [layer.name for layer in model.layers if re.fullmatch(r"stage\d+_pool", layer.name)]
    if len(named) >= 2:
        return named[:-1]
    pooling = (keras().layers.MaxPooling2D, keras().layers.AveragePooling2D)
    pools = [layer.name for layer in model.layers if isinstance(layer, pooling)]
    if len(pools) >= 2:
        return pools[:-1]
    raise UsageError(f"model {model.name} has no downsampling boundaries to attach BYOT exits to; "
                     "name the layers with `exits: [layer_name, ...]` (4-D feature-map outputs).")

def exit_layer_names(model, cfg: DistillConfig) -> list[str]:
    """The validated exit layer names, shallowest first.

    Raises:
        UsageError: unknown layer (with a did-you-mean), a layer without a (B, H, W, C) output,
            a model that is not functional, or `exit` out of range.
    """
    import difflib

    if not hasattr(model, "input") or not isinstance(model, keras().Model) or not is_graph_network(model):
        raise UsageError(f"BYOT needs a functional or Sequential Keras model; {model.name} is subclassed.")
    names = list(cfg.exits) if cfg.exits is not None else default_exits(model)
    if not names:
        raise UsageError("byot needs at least one exit: leave `exits` unset for the defaults or list layer names.")
    order = {layer.name: index for index, layer in enumerate(model.layers)}
    for name in names:
        if name not in order:
            close = difflib.get_close_matches(name, list(order), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"byot exit {name!r} is not a layer of {model.name}.{hint}")
        if len(model.get_layer(name).output_shape) != 4:
            raise UsageError(f"byot exit {name!r} outputs {model.get_layer(name).output_shape}; an exit needs a "
                             "(B, H, W, C) feature map: pick a conv, activation or pooling layer.")
    if len(model.layers[-1].input_shape) != 2:
        raise UsageError(f"BYOT needs {model.name}'s last layer to be a classifier on (B, D) features; "
                         f"it takes {model.layers[-1].input_shape}.")
    if cfg.exit is not None and not 1 <= cfg.exit <= len(names):
        raise UsageError(f"exit {cfg.exit} is out of range: {model.name} has {len(names)} exit(s) "
                         f"({', '.join(names)}); use exit: 1..{len(names)}, or leave it unset for the full network.")
    return sorted(names, key=order.__getitem__)

def attention_module(x, k: int) -> tuple:
    """Exit k's attention: a sigmoid map of x's shape from a down-up conv path, times x.

    (B, H, W, C) -> (B, H', W', C) -> (B, 2H', 2W', C) -> crop to (B, H, W, C) -> sigmoid -> * x.

    Returns:
        The attended features (B, H, W, C) and the module's parameter count.
    """
    layers = keras().layers
    height, width, channels = int(x.shape[1]), int(x.shape[2]), int(x.shape[-1])
    down_up = [
        layers.Conv2D(channels, 3, strides=2, padding="same", use_bias=False, name=f"byot_exit{k}_att_conv"),
        layers.BatchNormalization(name=f"byot_exit{k}_att_bn1"),
        layers.ReLU(name=f"byot_exit{k}_att_relu"),
        layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False, name=f"byot_exit{k}_att_deconv"),
    ]
    gate = x
    for layer in down_up:
        gate = layer(gate)
    extra_rows, extra_cols = int(gate.shape[1]) - height, int(gate.shape[2]) - width  # 1 for an odd size
    if extra_rows or extra_cols:
        gate = layers.Cropping2D(((0, extra_rows), (0, extra_cols)), name=f"byot_exit{k}_att_crop")(gate)
    norm = layers.BatchNormalization(name=f"byot_exit{k}_att_bn2")
    gate = layers.Activation("sigmoid", name=f"byot_exit{k}_att_sigmoid")(norm(gate))  # (B, H, W, C) in (0, 1)
    params = sum(int(layer.count_params()) for layer in down_up + [norm])
    return layers.Multiply(name=f"byot_exit{k}_att_multiply")([x, gate]), params

def bottleneck(x, k: int, target_size: int, target_channels: int):
    """Stride-2 Conv-BN-ReLU blocks while the result is still at least the deepest map's size."""
    layers = keras().layers
    size, channels, block = int(x.shape[1]), int(x.shape[-1]), 0
    # (B, H, W, C) -> (B, H/2, W/2, 2C) per block
    while -(-size // 2) >= target_size:
        block += 1
        channels = min(max(2 * channels, 8), max(target_channels, channels))
        x = layers.Conv2D(channels, 3, strides=2, padding="same", use_bias=False, name=f"byot_exit{k}_conv{block}")(x)
        x = layers.BatchNormalization(name=f"byot_exit{k}_bn{block}")(x)
        x = layers.ReLU(name=f"byot_exit{k}_relu{block}")(x)
        size = -(-size // 2)
    return x

def attach_exits(model, names: list[str], attention: bool = True) -> ByotNetwork:
    """Builds a head after each named layer; the heads' layers are named `byot_exit{k}_*`
    (the attention module's `byot_exit{k}_att_*`)."""
    layers = keras().layers
    final_features = model.layers[-1].input  # (B, D)
    feature_width = int(final_features.shape[-1])
    maps = [layer for layer in model.layers if len(getattr(layer, "output_shape", ()) or ()) == 4]
    deepest_map = maps[-1].output_shape  # (B, H, W, C) of the last feature map
    target_size, target_channels = int(deepest_map[1]), int(deepest_map[-1])
    classes = int(model.output_shape[-1])
    exit_logits, exit_features, attention_params = [], [], []
    for k, name in enumerate(names, start=1):
        x = model.get_layer(name).output  # (B, H, W, C)
        if attention:
            x, params = attention_module(x, k)  # (B, H, W, C), the paper's attention-based shallow classifier
            attention_params.append(params)
        x = bottleneck(x, k, target_size, target_channels)
        x = layers.GlobalAveragePooling2D(name=f"byot_exit{k}_gap")(x)  # (B, C)
        features = layers.Dense(feature_width, activation="relu", name=f"byot_exit{k}_features")(x)  # (B, D)
        exit_features.append(features)
        exit_logits.append(layers.Dense(classes, name=f"byot_exit{k}_logits")(features))  # (B, K)
    return ByotNetwork(model, names, exit_logits, exit_features, final_features, attention_params)

@functools.cache
def byot_trainer_class():
    """The keras.Model subclass whose train_step applies the BYOT loss to every exit."""
    tf_, keras_ = tf(), keras()

    class ByotTrainer(keras_.Model):
        def __init__(self, network, n_exits: int, temperature: float, alpha: float, hint_weight: float):
            super().__init__(name="byot_trainer")
            self.network = network
            self.n_exits = n_exits
            self.temperature, self.alpha, self.hint_weight = temperature, alpha, hint_weight
            self.loss_tracker = keras_.metrics.Mean(name="loss")
            self.accuracy = keras_.metrics.SparseCategoricalAccuracy(name="accuracy")
            self.exit_accuracy = [keras_.metrics.SparseCategoricalAccuracy(name=f"exit{k}_accuracy")
                                  for k in range(1, n_exits + 1)]

        @property
        def metrics(self):
            return [self.loss_tracker, self.accuracy] + self.exit_accuracy

        def split(self, outputs):
            final_logits, final_features = outputs[0], outputs[1]
            exit_logits = outputs[2:2 + self.n_exits]
            exit_features = outputs[2 + self.n_exits:]
            return final_logits, final_features, exit_logits, exit_features

        def update(self, loss, labels, final_logits, exit_logits):
            self.loss_tracker.update_state(loss)
            self.accuracy.update_state(labels, final_logits)
            for metric, logits in zip(self.exit_accuracy, exit_logits):
                metric.update_state(labels, logits)
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data):
            images, labels = data
            with tf_.GradientTape() as tape:
                final_logits, final_features, exit_logits, exit_features = self.split(
                    self.network(images, training=True))
                loss, _ = byot_loss(labels, final_logits, exit_logits, final_features, exit_features,
                                    self.temperature, self.alpha, self.hint_weight)
            variables = self.network.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return self.update(loss, labels, final_logits, exit_logits)

        def test_step(self, data):
            images, labels = data
            final_logits, _, exit_logits, _ = self.split(self.network(images, training=False))
            return self.update(cross_entropy(labels, final_logits), labels, final_logits, exit_logits)

    return ByotTrainer

def train_byot(model, data, cfg: DistillConfig, seed: int = 0) -> tuple[ByotNetwork, dict]:
    """Trains `model` and its exits in place with the BYOT loss.

    Returns:
        The network with its heads (for `truncated(k)`) and the training info.
    """

    if cfg.attention is None or cfg.temperature is None:
        raise InternalError("train_byot needs the method's defaults filled in: pass cfg.resolved()")
    names = exit_layer_names(model, cfg)
    network = attach_exits(model, names, attention=cfg.attention)
    trainer_model = network.trainer_model()
    trainer = byot_trainer_class()(trainer_model, len(names), cfg.temperature, cfg.alpha, cfg.hint_weight)
    augment = cfg.augment if cfg.augment.enabled else None
    train_batches = stream(data, "train", cfg.batch_size, shuffle=True, seed=seed, augment=augment)
    steps = -(-data.count("train") // cfg.batch_size)
    info = fit_wrapper(trainer, train_batches, data, cfg.epochs, steps, cfg.learning_rate, "byot", cfg.batch_size,
                       fresh_bn_of=trainer_model, seed=seed)
    info["augment"] = cfg.augment.describe(data.input_shape)
    info.update({"exits": names, "attention": cfg.attention, "attention_params": network.attention_params,
                 "plain_params": int(model.count_params()),
                 "trainer_params": int(trainer_model.count_params()),
                 "exit_params": [int(network.truncated(k).count_params()) for k in range(1, len(names) + 1)]})
    return network, info

def check_byot(ctx, cfg: DistillConfig) -> None:
    check_outputs_logits(ctx.model, "model")
    exit_layer_names(ctx.model, cfg)

def run_byot(ctx, cfg: DistillConfig) -> dict:
    model = keras().models.clone_model(ctx.model) if cfg.reinitialize else ctx.model
    step(f"BYOT self-distillation of {model.name}, T={cfg.temperature}, alpha={cfg.alpha}, "
         f"lambda={cfg.hint_weight}, attention {'on' if cfg.attention else 'off'}")
    network, info = train_byot(model, ctx.data, cfg, seed=ctx.plan.seed)
    ctx.model = network.truncated(cfg.exit) if cfg.exit else model
    info["result"] = f"truncated at exit {cfg.exit} ({network.exit_names[cfg.exit - 1]})" if cfg.exit else "full network"
    info["result_params"] = int(ctx.model.count_params())
    return info

register("byot", DistillMethod(run=run_byot, check=check_byot))
