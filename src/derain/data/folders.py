"""Image folders as indexable datasets of `Sample`s (decoded on access, never cached here).

Three layouts cover every set the project reads: paired folders (`rainy/` + `clean/` with the same
file names, e.g. Rain100L), side-by-side pair files (Rain800's `[clean | rainy]`, split at
width // 2) and plain folders of unpaired images (real rain, rain-free photos).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derain.errors import DerainError
from derain.io import IMAGE_EXTENSIONS, list_images, read_rgb


@dataclass
class Sample:
    """One image of a set: `rainy` is the input (for unpaired sets, the image itself)."""

    name: str
    rainy: np.ndarray
    clean: np.ndarray | None = None


def _images(folder: Path) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise DerainError(f"{folder}: contains no images (looked for {' '.join(IMAGE_EXTENSIONS)})")
    return files


class FolderDataset:
    """Base: a sorted list of files and the `name` each sample is reported under."""

    paired: bool = False

    def __init__(self, files: list[Path], names: list[str]) -> None:
        self.files, self.names = files, names

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Sample:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, paired={self.paired})"


class PairedFolder(FolderDataset):
    """`root/rainy/X` and `root/clean/X`: the same file names in both folders."""

    paired = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = Path(root)
        rainy, clean = _images(root / "rainy"), _images(root / "clean")
        rainy_names, clean_names = {p.name for p in rainy}, {p.name for p in clean}
        if rainy_names != clean_names:
            only_r, only_c = sorted(rainy_names - clean_names), sorted(clean_names - rainy_names)
            raise DerainError(f"{root}: rainy/ and clean/ file names differ "
                              f"(only in rainy: {only_r[:3]}, only in clean: {only_c[:3]})")
        super().__init__(rainy, [p.name for p in rainy])
        self.clean_files = clean

    def __getitem__(self, i: int) -> Sample:
        rainy, clean = read_rgb(self.files[i]), read_rgb(self.clean_files[i])
        if rainy.shape != clean.shape:
            raise DerainError(f"{self.files[i].name}: rainy {rainy.shape[:2]} and clean {clean.shape[:2]} sizes differ")
        return Sample(self.names[i], rainy, clean)


def split_side_by_side(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clean, rainy) halves of a `[clean | rainy]` file; an odd last column is dropped."""
    half = rgb.shape[1] // 2
    return rgb[:, :half], rgb[:, half : 2 * half]


class SideBySide(FolderDataset):
    """Rain800 layout: every file holds `[clean | rainy]`, split at width // 2."""

    paired = True

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        files = _images(Path(folder))
        super().__init__(files, [p.name for p in files])

    def __getitem__(self, i: int) -> Sample:
        clean, rainy = split_side_by_side(read_rgb(self.files[i]))
        return Sample(self.names[i], np.ascontiguousarray(rainy), np.ascontiguousarray(clean))


class UnpairedFolder(FolderDataset):
    """Images from one or more folders; with several, names are `folder/file` to stay unique."""

    def __init__(self, *folders: str | os.PathLike[str]) -> None:
        if not folders:
            raise DerainError("UnpairedFolder needs at least one folder")
        paths = [Path(f) for f in folders]
        files = [f for folder in paths for f in _images(folder)]
        names = [f.name if len(paths) == 1 else f"{f.parent.name}/{f.name}" for f in files]
        if len(set(names)) != len(names):
            raise DerainError(f"image names are not unique across {', '.join(map(str, paths))}")
        super().__init__(files, names)

    def __getitem__(self, i: int) -> Sample:
        return Sample(self.names[i], read_rgb(self.files[i]))
