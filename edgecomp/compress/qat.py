"""The `qat` stage: quantization-aware training with tfmot, then int8 TFLite at export.

Real architectures are handled layer by layer: every layer tfmot's default 8-bit registry
supports is annotated; a BatchNormalization right after a linear Conv2D/DepthwiseConv2D is folded
by tfmot's transforms; any other layer tfmot cannot quantize (a BatchNormalization after an
activation or at the input, a custom layer) gets a no-op quantize config and stays float in
training, and the converter calibrates it from training images. Each such fallback is named in
the stage info, with its reason, instead of failing the whole model.

After the stage, `ctx.model` is the QAT model (its Keras accuracy is the fake-quant accuracy) and
`ctx.export_inputs.float_model` holds the model as it was before QAT: the float32, PTQ and
ONNX exports are made from that float model, the `qat_int8` artifact from the QAT model.
"""

from __future__ import annotations

import re

from edgecomp.compress import qat_scheme
from edgecomp.compress.context import RunContext
from edgecomp.compress.fine_tune import fine_tune, stage_teacher
from edgecomp.core.errors import EdgecompError
from edgecomp.core.progress import step
from edgecomp.core.records import QatScheme
from edgecomp.core.tfenv import keras, seed_everything, tfmot
from edgecomp.plan.precisions import QAT_PRECISION
from edgecomp.plan.stage_settings import QatConfig

_FOLDABLE_INTO = ("Conv2D", "DepthwiseConv2D")
_MAX_RETRIES = 20
# Activations tfmot's QuantizeAwareActivation accepts inside a Conv/Dense layer.
_QAT_ACTIVATIONS = {"linear", "relu", "swish", "gelu", "softmax", "sigmoid", "tanh"}


def _no_op_config_class():
    """A QuantizeConfig that quantizes nothing: the layer runs in float during QAT."""
    base = tfmot().quantization.keras.QuantizeConfig

    class NoOpQuantizeConfig(base):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return []

        def get_config(self):
            return {}

    return NoOpQuantizeConfig

def qat_custom_objects() -> dict:
    """What loading a saved QAT model needs besides tfmot's quantize_scope: the no-op config of float
    layers and the per-channel depthwise quantizer (compress.qat_scheme)."""

    return {"NoOpQuantizeConfig": _no_op_config_class(), **qat_scheme.custom_objects()}

def layer_producers(model) -> dict[str, list[str]]:
    """Layer name -> names of the layers that feed it, in this model's own graph.

    Read from the model's config rather than `layer.inbound_nodes`: a layer object shared with
    another model (a pruning wrapper's clone, the model before `strip_pruning`) carries that
    model's nodes too, which would make a Conv2D look like it had two consumers.
    """
    config = model.get_config()
    entries = config["layers"]
    if not any("inbound_nodes" in entry for entry in entries):  # Sequential: a chain
        # A Sequential's config lists its InputLayer, which `model.layers` does not hold: the
        # chain starts at the first real layer, as `model.layers` does.
        names = [entry["config"]["name"] for entry in entries if entry["class_name"] != "InputLayer"]
        return {name: names[i - 1:i] for i, name in enumerate(names)}
    producers = {}
    for entry in entries:
        producers[entry["name"]] = [inbound[0] for node in entry.get("inbound_nodes", []) for inbound in node]
    return producers

def _folds_into_conv(layer, model, producers: dict[str, list[str]]) -> bool:
    """A BatchNormalization tfmot folds: its only input is a conv without activation whose only
    consumer is this BN."""
    inbound = producers.get(layer.name, [])
    if len(inbound) != 1:
        return False
    conv = model.get_layer(inbound[0])
    if type(conv).__name__ not in _FOLDABLE_INTO:
        return False
    consumers = [name for name, feeds in producers.items() if conv.name in feeds]
    return getattr(conv.activation, "__name__", "linear") == "linear" and consumers == [layer.name]

def plan_fallbacks(model) -> dict[str, str]:
    """Layer name -> why it stays float, for layers tfmot's default registry cannot quantize."""
    # The public route to the registry quantize_model() uses (not tfmot's private module path).
    registry = tfmot().quantization.keras.default_8bit.Default8BitQuantizeScheme().get_quantize_registry()
    producers = layer_producers(model)
    fallbacks = {}
    for layer in model.layers:
        kind = type(layer).__name__
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        if kind != "Activation" and activation and activation not in _QAT_ACTIVATIONS:
            # tfmot's QuantizeAwareActivation only knows a few activations inside Conv/Dense.
            fallbacks[layer.name] = (f"{kind} with built-in activation {activation!r} is not supported by "
                                     "tfmot QAT; kept float in QAT (split it into the layer + a separate "
                                     "activation layer, e.g. ReLU(6.0), to quantize it)")
            continue
        if kind == "InputLayer" or registry.supports(layer):
            continue
        if kind == "BatchNormalization":
            if _folds_into_conv(layer, model, producers):
                continue
            fallbacks[layer.name] = ("BatchNormalization not directly after a linear Conv2D/DepthwiseConv2D "
                                     "cannot be folded; kept float in QAT, calibrated at conversion")
        else:
            fallbacks[layer.name] = (f"{kind} has no tfmot 8-bit quantize config; kept float in QAT, "
                                     "calibrated at conversion")
    return fallbacks

def _annotate(model, fallbacks: dict[str, str]):
    """Annotates every layer: the default config, or the no-op config for fallback layers."""
    q = tfmot().quantization.keras
    no_op = _no_op_config_class()

    def annotate(layer):
        if type(layer).__name__ == "InputLayer":
            return layer.__class__.from_config(layer.get_config())
        if layer.name in fallbacks:
            return q.quantize_annotate_layer(layer.__class__.from_config(layer.get_config()), no_op())
        return q.quantize_annotate_layer(layer.__class__.from_config(layer.get_config()))

    annotated = keras().models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    return annotated, no_op

def build_qat_model(model, prune_preserving: bool = False):
    """Wraps `model` for QAT, falling back to float layer by layer where tfmot cannot quantize.

    Args:
        model: a functional or sequential Keras 2 model.
        prune_preserving: use tfmot's prune-preserving scheme (keeps a pruned model's zeros).
            Either scheme quantizes DepthwiseConv2D kernels per channel, as TFLite does (qat_scheme).

    Returns:
        (qat_model, fallbacks) where fallbacks maps layer name -> reason it stays float.

    Raises:
        EdgecompError: tfmot refused the model even with every named layer left float.
    """

    q = tfmot().quantization.keras
    fallbacks = plan_fallbacks(model)
    for _ in range(_MAX_RETRIES):
        annotated, no_op = _annotate(model, fallbacks)
        try:
            # qat_custom_objects' names, with the very no-op class the layers were annotated with
            with q.quantize_scope({**qat_custom_objects(), "NoOpQuantizeConfig": no_op}):
                return q.quantize_apply(annotated, qat_scheme.quantize_scheme(prune_preserving)), fallbacks
        except (RuntimeError, ValueError, TypeError) as err:
            # tfmot names the offending layer ("Layer NAME:<class ...> is not supported").
            match = re.search(r"Layer (\S+?):", str(err))
            name = match.group(1) if match else None
            if name is None or name in fallbacks or name not in {layer.name for layer in model.layers}:
                raise EdgecompError(
                    f"QAT could not wrap model {model.name}: {str(err).splitlines()[0][:300]}. Layers "
                    f"already left float: {sorted(fallbacks) or 'none'}. Use PTQ (`quantize` stage) for "
                    "this model, or replace the layer.") from err
            fallbacks[name] = f"tfmot refused it: {str(err).splitlines()[0][:200]}"
    raise EdgecompError(f"QAT gave up on {model.name} after {_MAX_RETRIES} layer fallbacks: {sorted(fallbacks)}.")

def sparsity_masks(model, min_sparsity: float = 0.1) -> dict:
    """Weight name -> (weight == 0) mask, for the kernels of a pruned model that are mostly zeros."""
    masks = {}
    for weight in model.weights:
        if weight.name.endswith("kernel:0"):
            values = weight.numpy()
            if values.size >= 16 and (values == 0).mean() >= min_sparsity:
                masks[weight.name] = (values != 0).astype(values.dtype)
    return masks

def mask_keeping_callback(qat_model, masks: dict):
    """Re-applies the pruning masks after every batch.

    tfmot's prune-preserving scheme keeps the zeros of the layers its registry configures, but
    not of layers a transform re-configures (the zoo's Dense + ReLU `fc1` lost 94% of its zeros
    in QAT); re-masking keeps every pruned kernel exactly as sparse as it came in.
    """
    targets = [(weight, masks[weight.name]) for weight in qat_model.weights if weight.name in masks]

    class KeepSparsity(keras().callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            for weight, mask in targets:
                weight.assign(weight * mask)

    return KeepSparsity(), sorted(weight.name for weight, _ in targets)

def run_qat(ctx: RunContext, cfg: QatConfig) -> dict:
    if ctx.model is None:
        raise EdgecompError("the qat stage needs a model: put a `train` stage before it.")
    seed_everything(ctx.plan.seed)
    scheme = QatScheme.PRUNE_PRESERVING if ctx.export_inputs.pruned else QatScheme.DEFAULT_8BIT
    prune_preserving = scheme.prune_preserving
    teacher = stage_teacher(ctx, cfg, "qat")
    float_model = ctx.model
    qat_model, fallbacks = build_qat_model(float_model, prune_preserving)
    for name, reason in fallbacks.items():
        step(f"qat: layer {name} stays float ({reason})")
    step(f"quantization-aware training for {cfg.epochs} epoch(s)"
         + (" (prune-preserving scheme)" if prune_preserving else ""))
    callbacks, masked = [], []
    if prune_preserving:
        callback, masked = mask_keeping_callback(qat_model, sparsity_masks(float_model))
        callbacks.append(callback)
    info = fine_tune(qat_model, ctx.data, cfg, "qat", callbacks, teacher, seed=ctx.plan.seed)
    # Not re-estimated here: a training-mode pass would also move the fake-quant ranges, and tfmot
    # folds BN into the quantized convs; the float model QAT starts from already had its pass.
    info["bn_statistics"] = {"reestimated": False, "reason": "QAT: a training-mode pass would move the "
                             "quantization ranges; the model QAT starts from was re-estimated by its stage"}
    if masked:
        info["sparsity_masks_kept"] = masked
    ctx.export_inputs.float_model = float_model
    ctx.export_inputs.qat_scheme = scheme
    ctx.add_precision(QAT_PRECISION)
    ctx.model = qat_model
    info.update({"scheme": scheme.value,
                 "float_fallback_layers": fallbacks,
                 "exports": f"{QAT_PRECISION} from the QAT model; float32, PTQ and ONNX from the pre-QAT float model"})
    return info

