"""The shared data sets by name, and the leakage guard for training.

Names resolve relative to `derain.paths.data_root()` (or an explicit root). Three sets are never
trained on (see the data README): `rain100l_test` and `udgnet43` (evaluation), `real_ref`
(selection). `open_training_dataset` refuses them, by name and by path, so no config can train or
tune on a test or selection set by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from derain.data.folders import FolderDataset, PairedFolder, SideBySide, UnpairedFolder
from derain.errors import DerainError
from derain.paths import data_root


@dataclass(frozen=True)
class Entry:
    """Where a named set lives under the data root, its layout, and whether it may be trained on."""

    path: str
    layout: str  # "paired", "side_by_side" or "unpaired"
    eval_only: bool = False


CATALOG: dict[str, Entry] = {
    "rain100l_test": Entry("rain100l_test", "paired", eval_only=True),
    "rain800_train": Entry("rain800_train/concat", "side_by_side"),
    "sirr147": Entry("real_rainy/sirr147", "unpaired"),
    "udgnet43": Entry("real_rainy/udgnet43", "unpaired", eval_only=True),
    "real_ref": Entry("real_ref/eevrsr", "paired", eval_only=True),  # a selection set: never trained on
    "bsds500": Entry("clean/bsds500/test", "unpaired"),
    "kodak24": Entry("clean/kodak24", "unpaired"),
    "urban100": Entry("clean/urban100", "unpaired"),
    "sunhays80": Entry("clean/sunhays80", "unpaired"),
}
_LAYOUTS = {"paired": PairedFolder, "side_by_side": SideBySide, "unpaired": UnpairedFolder}


def dataset_path(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the catalogue set `name`."""
    if name not in CATALOG:
        raise DerainError(f"unknown dataset {name!r}; known: {', '.join(CATALOG)} (or give a folder)")
    return data_root(root) / CATALOG[name].path


def open_dataset(name_or_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> FolderDataset:
    """A catalogue name, a folder with `rainy/` + `clean/` (paired) or a folder of images (unpaired)."""
    name = str(name_or_path)
    if name in CATALOG:
        folder = dataset_path(name, root)
        if not folder.is_dir():
            raise DerainError(f"dataset {name!r}: folder {folder} is missing (check DERAIN_DATA / --data-root)")
        return _LAYOUTS[CATALOG[name].layout](folder)
    folder = Path(name)
    if not folder.is_dir():
        raise DerainError(f"{name!r} is neither a known dataset ({', '.join(CATALOG)}) nor a folder")
    if (folder / "rainy").is_dir() and (folder / "clean").is_dir():
        return PairedFolder(folder)
    return UnpairedFolder(folder)


def is_eval_only(name_or_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> bool:
    """True for the evaluation-only sets, named or given as (a folder inside) their path."""
    name = str(name_or_path)
    if name in CATALOG:
        return CATALOG[name].eval_only
    target = Path(name).resolve()
    try:
        base = data_root(root)
    except DerainError:
        return False
    return any(target.is_relative_to((base / e.path).resolve()) for e in CATALOG.values() if e.eval_only)


def open_training_dataset(name_or_path: str | os.PathLike[str],
                          root: str | os.PathLike[str] | None = None) -> FolderDataset:
    """`open_dataset`, refusing evaluation-only sets (the leakage rules of the data README)."""
    if is_eval_only(name_or_path, root):
        raise DerainError(f"dataset {str(name_or_path)!r} is evaluation-only and may not be used for training "
                          "or tuning")
    return open_dataset(name_or_path, root)
