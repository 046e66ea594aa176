"""A user's classifier that ends in a softmax, as most Keras classifiers do (`keras.applications`
with `classes=10`, a tutorial's `Dense(10, activation="softmax")`): edgecomp's training and
distillation losses take logits, so the final softmax is taken off for the stages
(`strip_softmax_head`), and put back on every exported model (`with_softmax`), so the deployable
keeps the output contract of the model it was given: probabilities in, probabilities out.
"""

from __future__ import annotations

from typing import Optional

from edgecomp.core.tfenv import keras

SOFTMAX = "softmax"
RESTORED_LAYER = "probabilities"  # the name of the Softmax layer put back on exported models


def _applies_softmax(layer) -> bool:
    if type(layer).__name__ == "Softmax":
        return getattr(layer, "axis", -1) in (-1, [-1])
    return getattr(getattr(layer, "activation", None), "__name__", "") == SOFTMAX


def softmax_head(model) -> Optional[str]:
    """The name of the layer applying `model`'s final softmax (a Softmax or Activation("softmax")
    layer, or a Dense / Conv with activation="softmax"), or None: logits, a nested model as the last
    layer, or a model that is not a single-output layer graph."""
    if not isinstance(model, keras().Model) or len(model.outputs) != 1 or not model.layers:
        return None
    last = model.layers[-1]
    if isinstance(last, keras().Model) or last.output is not model.outputs[0] or len(last.inbound_nodes) != 1:
        return None
    return last.name if _applies_softmax(last) else None


def strip_softmax_head(model) -> tuple[object, Optional[dict]]:
    """(the model with logits out, what was done) for a tf-keras model ending in a softmax, or
    (model, None) when it does not. The other layers (and their weights) are shared with `model`."""
    name = softmax_head(model)
    if name is None:
        return model, None
    last = model.get_layer(name)
    kind = type(last).__name__
    if kind in ("Softmax", "Activation"):
        logits = last.input  # (B, K) before the softmax layer
        how = f"the model without its last layer `{name}` ({kind})"
    else:  # a Dense / Conv with activation="softmax": the same layer with a linear activation
        config = dict(last.get_config(), activation="linear")
        linear = type(last).from_config(config)
        logits = linear(last.input)
        linear.set_weights(last.get_weights())
        how = f"its last layer `{name}` ({kind}) with activation='linear' instead of 'softmax', same weights"
    stripped = keras().Model(model.inputs, logits, name=model.name)
    return stripped, {"activation": SOFTMAX, "layer": name, "trained_on": "logits", "logits_from": how,
                      "deployable": "ends in a Softmax again: it outputs probabilities, as the given model did"}


def with_softmax(model):
    """`model` (logits out, (B, K)) with a Softmax layer on top: probabilities out, (B, K)."""
    probabilities = keras().layers.Softmax(name=RESTORED_LAYER)(model.outputs[0])
    return keras().Model(model.inputs, probabilities, name=model.name)
