import pytest

from edgecomp.core.errors import UsageError
from edgecomp.core.registry import Registry


def test_get_returns_registered_item():
    registry = Registry("widget")
    registry.register("alpha")(1)
    assert registry.get("alpha") == 1
    assert registry.names() == ["alpha"]


def test_typo_suggests_closest_name_and_lists_all():
    registry = Registry("widget")
    registry.register("fashion_mnist")(1)
    registry.register("cifar10")(2)
    with pytest.raises(UsageError, match=r"unknown widget 'fashoin_mnist'\. Did you mean 'fashion_mnist'\?.*cifar10"):
        registry.get("fashoin_mnist")


def test_duplicate_registration_is_a_bug():
    registry = Registry("widget")
    registry.register("a")(1)
    with pytest.raises(ValueError):
        registry.register("a")(2)
