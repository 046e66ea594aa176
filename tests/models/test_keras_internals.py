"""The private tf-keras attribute behind models/keras_internals.py, on real models.

If a tf-keras upgrade removes or changes `Model._is_graph_network`, these tests fail with the
installed version in the message: pin the version named there or update the seam.
"""

from __future__ import annotations

import pytest

from edgecomp.core.errors import DependencyError
from edgecomp.core.tfenv import keras
from edgecomp.models.keras_internals import TESTED_VERSION, is_graph_network, skips_first_node, tf_keras_version

UPGRADE = (f"tf-keras {tf_keras_version()} (seam checked with {TESTED_VERSION}): Model._is_graph_network "
           "changed; see edgecomp/models/keras_internals.py")


def functional_model():
    inputs = keras().Input((8, 8, 1))
    return keras().Model(inputs, keras().layers.Dense(2)(keras().layers.Flatten()(inputs)))


def subclassed_model():
    class TwoLogits(keras().Model):
        def __init__(self):
            super().__init__()
            self.flatten, self.dense = keras().layers.Flatten(), keras().layers.Dense(2)

        def call(self, images):
            return self.dense(self.flatten(images))

    model = TwoLogits()
    model.build((None, 8, 8, 1))
    return model


def test_functional_and_sequential_models_are_graphs_and_subclassed_ones_are_not():
    sequential = keras().Sequential([keras().Input((8, 8, 1)), keras().layers.Flatten(), keras().layers.Dense(2)])
    assert is_graph_network(functional_model()) is True, UPGRADE
    assert is_graph_network(sequential) is True, UPGRADE
    assert is_graph_network(subclassed_model()) is False, UPGRADE


def test_a_changed_private_attribute_is_a_dependency_error_naming_the_version():
    """What an upgrade looks like: a real model whose private attribute was retyped, then removed."""
    model = subclassed_model()
    object.__setattr__(model, "_is_graph_network", "maybe")
    with pytest.raises(DependencyError, match=rf"tf-keras {tf_keras_version()}: .* is a str, not a bool"
                                              rf".*pip install 'tf-keras=={TESTED_VERSION}'"):
        is_graph_network(model)
    object.__delattr__(model, "_is_graph_network")
    with pytest.raises(DependencyError, match="_is_graph_network no longer exists"):
        is_graph_network(model)


def test_a_submodel_called_in_a_functional_model_skips_its_construction_node():
    inner = functional_model()
    inputs = keras().Input((8, 8, 1))
    outer = keras().Model(inputs, inner(inputs))
    assert skips_first_node(inner) is True, UPGRADE
    # The parent's config refers to the call as node 1 (node 0 is the sub-model's own construction).
    entry = [e for e in outer.get_config()["layers"] if e["name"] == inner.name][0]
    consumers = [outer.get_config()["output_layers"][0]]
    assert len(entry["inbound_nodes"]) == 1 and consumers[0][:2] == [inner.name, 1], UPGRADE
    assert skips_first_node(keras().layers.Dense(2)) is False, UPGRADE
