"""A small name -> implementation registry with did-you-mean suggestions on a typo."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from edgecomp.core.errors import UsageError
from edgecomp.core.settings import did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to implementations for one kind of thing (datasets, models, stages...).

    Args:
        kind: what the registry holds, used in error messages ("dataset", "model").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers `obj` under `name`; a duplicate name is a bug."""

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Returns the implementation named `name`.

        Raises:
            UsageError: the name is unknown; the message lists the valid names and the closest.
        """
        if name in self._items:
            return self._items[name]
        raise UsageError(did_you_mean(self.kind, name, self._items))

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
