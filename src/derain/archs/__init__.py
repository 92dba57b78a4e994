"""Registry of network architectures: `create_model(name, **kwargs)`.

Networks are pure `nn.Module`s (no I/O, no training logic) so that the same class serves
training, inference, export and tests. Each architecture lives in its own module and registers
itself with `@register_model`.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from derain.errors import DerainError

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class/function decorator adding a constructor to the registry under `name`."""

    def wrap(ctor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = ctor
        return ctor

    return wrap


def list_models() -> list[str]:
    """Names of every registered architecture, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the architecture `name` with its constructor arguments."""
    if name not in _REGISTRY:
        raise DerainError(f"unknown architecture {name!r}; known: {', '.join(list_models())}")
    return _REGISTRY[name](**kwargs)


# Importing the modules registers their architectures.
from derain.archs import classifier, prenet, student  # noqa: E402,F401
