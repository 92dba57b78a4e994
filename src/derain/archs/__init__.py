"""Registry of network architectures: `create_model(name, **kwargs)`, and what each one can do.

Networks are pure `nn.Module`s (no I/O, no training logic) so that the same class serves
training, inference, export and tests. Each architecture lives in its own module and registers
itself with `@register_model(name, task=..., features=...)`; stages, benchmarks and tests ask the
registry (`arch_info`, `list_models(task=...)`) instead of probing the networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from torch import nn

from derain.errors import DerainError

Task = Literal["derain", "classify", "vapour"]


@dataclass(frozen=True)
class ArchInfo:
    """One registered architecture: its constructor and capabilities.

    `task`: "derain" maps a (B, 3, H, W) image in [0, 1] to one of the same shape; "classify"
    maps it to one rain logit per image; "vapour" maps it to a coarse veil map (transmission,
    airlight: `archs.vapour`). `features`: it has `forward_features(x) -> (output,
    [maps at 1/2, 1/4, 1/8])`, which distillation and the feature anchor need. `vapour`: a derainer
    that can also remove the rain's vapour (`--vapour`), a streak and a vapour branch.
    """

    name: str
    ctor: Callable[..., nn.Module]
    task: Task
    features: bool
    vapour: bool = False


_REGISTRY: dict[str, ArchInfo] = {}


def register_model(name: str, task: Task = "derain", features: bool = False,
                   vapour: bool = False) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class/function decorator adding a constructor to the registry under `name`."""

    def wrap(ctor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = ArchInfo(name, ctor, task, features, vapour)
        return ctor

    return wrap


def list_models(task: Task | None = None, features: bool | None = None) -> list[str]:
    """Names of the registered architectures (optionally of one task / with features), sorted."""
    return sorted(n for n, info in _REGISTRY.items()
                  if task in (None, info.task) and features in (None, info.features))


def arch_info(name: str) -> ArchInfo:
    """What the registry knows of architecture `name`; one-line error for unknown names."""
    if name not in _REGISTRY:
        raise DerainError(f"unknown architecture {name!r}; known: {', '.join(list_models())}")
    return _REGISTRY[name]


def require(name: str, task: Task, features: bool, who: str) -> None:
    """Refuse an architecture that cannot do what `who` (a stage) needs of it."""
    info = arch_info(name)
    if info.task != task or (features and not info.features):
        fit = ", ".join(list_models(task, True if features else None))
        raise DerainError(f"{who} needs a {'classifier' if task == 'classify' else 'derainer'}"
                          f"{' with features' if features else ''} (e.g. {fit}), not {name!r}")


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build the architecture `name` with its constructor arguments."""
    return arch_info(name).ctor(**kwargs)


# Importing the modules registers their architectures.
from derain.archs import brn, classifier, prenet, streaks_vapour, student  # noqa: E402,F401  (streaks_vapour: vapour too)
