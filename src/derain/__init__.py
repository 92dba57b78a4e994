"""derain: remove rain streaks from photographs (task transfer learning, Ma et al. 2022).

    >>> import derain
    >>> model = derain.load_model()          # the default shipped model
    >>> clean = model.remove(rainy_array)    # same shape and dtype as the input

Every failure the caller can cause (a bad array, path or model) raises `derain.DerainError`,
whose message is one line that says what to change.
"""

from __future__ import annotations

from typing import Any

from derain.errors import DerainError  # no dependencies: cheap enough for `derain --help`

__version__ = "0.1.0"
__all__ = ["DerainError", "load_model", "create_model", "list_models", "__version__"]


def __getattr__(name: str) -> Any:
    """Import torch-heavy parts on first use, so `derain --help` starts fast."""
    if name == "load_model":
        from derain.inference import load_model

        return load_model
    if name in ("create_model", "list_models"):
        from derain import archs

        return getattr(archs, name)
    raise AttributeError(f"module 'derain' has no attribute {name!r}")
