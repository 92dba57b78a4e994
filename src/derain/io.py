"""Image reading and writing that keeps what a photographer cares about.

* EXIF orientation is applied on read (formats decoded by Pillow: JPEG, 8-bit PNG, WebP), so the
  pixels are the way the photo is shown.
* 8- and 16-bit PNG/TIFF, JPEG, BMP and WebP; grayscale and RGBA (alpha is carried separately and
  written back untouched). Pillow cannot hold 16-bit colour, so 16-bit PNG goes through pypng and
  TIFF through tifffile.
* A decompression bomb (more than `MAX_PIXELS`) is refused before any pixel is decoded.
* Writes are atomic: a temporary file in the destination folder, published under its name (never
  over an existing file unless asked), so a crash, a kill, a concurrent run or a bad input never
  leaves a partial or clobbered output.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from derain.atomic import atomic_write, exists_error
from derain.errors import DerainError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_PIXELS = 100_000_000  # 100 MP: above any camera a user derains, below a bomb's size
_TIFF = (".tif", ".tiff")
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # Pillow raises its bomb error at twice this...
warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ...and only warns below; we check ourselves


@dataclass
class Picture:
    """Decoded image: RGB float32 (H, W, 3) in [0, 1], plus what is needed to write it back alike."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None  # (H, W) float32 in [0, 1]
    bit_depth: int = 8
    grayscale: bool = False


def check_size(width: int, height: int, path: Path) -> None:
    """Refuse a picture (or a video's frames) from its header: over `MAX_PIXELS`, or empty."""
    if width * height > MAX_PIXELS:
        raise DerainError(f"{path}: {width}x{height} pixels exceeds the limit of {MAX_PIXELS:,} (decompression bomb?)")
    if width < 1 or height < 1:
        raise DerainError(f"{path}: empty image ({width}x{height})")


def _from_channels(arr: np.ndarray, scale: float, bit_depth: int) -> Picture:
    """Split an (H, W[, C]) integer array into RGB / alpha floats."""
    arr = arr.astype(np.float32) / scale
    if arr.ndim == 2:
        arr = arr[..., None]
    channels = arr.shape[2]
    gray = channels in (1, 2)
    rgb = np.repeat(arr[..., :1], 3, axis=2) if gray else arr[..., :3]
    alpha = arr[..., -1] if channels in (2, 4) else None
    return Picture(np.ascontiguousarray(rgb), alpha, bit_depth, gray)


def _read_png16(path: Path) -> Picture:
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    check_size(width, height, path)
    planes = info["planes"]
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, planes)
    return _from_channels(arr, 65535.0, 16)


def _read_tiff(path: Path) -> Picture | None:
    """16-bit-capable TIFF reading; None when the file needs a codec tifffile lacks (Pillow then reads it)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        check_size(page.imagewidth, page.imagelength, path)
        try:
            arr = page.asarray()
        except ValueError as exc:
            if "imagecodecs" in str(exc):  # e.g. LZW or JPEG compression
                return None
            raise
        if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and arr.ndim == 3:
            arr = np.moveaxis(arr, 0, -1)
    if arr.dtype == np.uint16:
        return _from_channels(arr, 65535.0, 16)
    if arr.dtype == np.uint8:
        return _from_channels(arr, 255.0, 8)
    raise DerainError(f"{path}: unsupported TIFF sample type {arr.dtype} (8- or 16-bit integers only)")


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as fh:
        head = fh.read(25)
    return head[24] if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 25 else 8


def read_picture(path: str | os.PathLike[str]) -> Picture:
    """Decode any supported image file; every failure is a one-line `DerainError`."""
    path = Path(path)
    if not path.exists():
        raise DerainError(f"{path}: no such file")
    if path.is_dir():
        raise DerainError(f"{path}: is a directory, not an image")
    if path.stat().st_size == 0:
        raise DerainError(f"{path}: empty file (0 bytes)")
    try:
        if path.suffix.lower() in _TIFF and (pic := _read_tiff(path)) is not None:
            return pic
        if path.suffix.lower() == ".png" and _png_bit_depth(path) == 16:
            return _read_png16(path)
        with Image.open(path) as im:
            check_size(im.width, im.height, path)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return _from_channels(np.asarray(im).astype(np.uint16), 65535.0, 16)
            if im.mode not in ("L", "LA", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
            return _from_channels(np.asarray(im), 255.0, 8)
    except DerainError:
        raise
    except Image.DecompressionBombError as exc:
        raise DerainError(f"{path}: exceeds the limit of {MAX_PIXELS:,} pixels (decompression bomb?)") from exc
    except UnidentifiedImageError as exc:
        raise DerainError(f"{path}: not a readable image ({exc.__class__.__name__})") from exc
    except (OSError, ValueError, SyntaxError, png.Error, tifffile.TiffFileError) as exc:
        raise DerainError(f"{path}: corrupt or truncated image ({exc})") from exc


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Shortcut for datasets: RGB float32 (H, W, 3) in [0, 1], alpha dropped."""
    return read_picture(path).rgb


def _quantize(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    top = 65535 if bit_depth == 16 else 255
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return np.clip(np.round(arr * top), 0, top).astype(dtype)


def _encode(path: Path, target: Path, pic: Picture, quality: int, png_level: int) -> None:
    """Write `pic` to `path` in the format named by `target`'s extension."""
    ext = target.suffix.lower()
    chans = pic.rgb.mean(axis=2, keepdims=True) if pic.grayscale else pic.rgb
    if pic.alpha is not None:
        chans = np.concatenate([chans, pic.alpha[..., None]], axis=2)
    depth = pic.bit_depth if ext in (".png", *_TIFF) else 8
    data = _quantize(chans, depth)
    if ext in _TIFF:
        extra = {"extrasamples": ["unassalpha"]} if pic.alpha is not None else {}
        photometric = "minisblack" if pic.grayscale else "rgb"
        if data.shape[2] == 1:
            tifffile.imwrite(path, data[..., 0], photometric=photometric)
        else:
            tifffile.imwrite(path, data, photometric=photometric, planarconfig="contig", **extra)
    elif ext == ".png" and depth == 16:
        h, w, c = data.shape
        with path.open("wb") as fh:
            png.Writer(w, h, greyscale=c <= 2, alpha=c in (2, 4), bitdepth=16).write(fh, data.reshape(h, w * c))
    else:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[data.shape[2]]
        im = Image.fromarray(data[..., 0] if mode == "L" else data, mode=mode)
        fmt = Image.registered_extensions()[ext]
        if fmt == "JPEG" and im.mode in ("LA", "RGBA"):
            im = im.convert(im.mode[:-1])  # JPEG has no alpha
        elif fmt == "BMP" and im.mode == "LA":
            im = im.convert("RGBA")  # BMP has no gray+alpha mode
        options = {"JPEG": {"quality": quality}, "WEBP": {"quality": quality}, "PNG": {"compress_level": png_level}}
        im.save(path, format=fmt, **options.get(fmt, {}))


def write_picture(path: str | os.PathLike[str], pic: Picture, overwrite: bool = False, quality: int = 95,
                  png_level: int = 6) -> None:
    """Atomically write `pic` to `path` (format from the extension).

    `png_level` is zlib's 0-9 for 8-bit PNG: 1 is ~3x faster to write for ~10% more bytes, the
    right trade for bulk training data.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise exists_error(target)
    if not is_image_name(target):
        raise DerainError(f"{target}: unsupported output format {target.suffix!r}; "
                          f"use one of {', '.join(IMAGE_EXTENSIONS)}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp: _encode(tmp, target, pic, quality, png_level), suffix=target.suffix,
                     overwrite=overwrite)
    except OSError as exc:
        raise DerainError(f"{target}: cannot write ({exc.strerror or exc})") from exc


def write_rgb(path: str | os.PathLike[str], rgb: np.ndarray, overwrite: bool = False, png_level: int = 6) -> None:
    """Write an RGB float array in [0, 1] as an 8-bit image (atomically)."""
    write_picture(path, Picture(np.asarray(rgb, dtype=np.float32)), overwrite=overwrite, png_level=png_level)


def is_image_name(path: Path) -> bool:
    """Whether `path`'s extension is one this module reads and writes."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike[str], extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> list[Path]:
    """Files with one of `extensions` (images by default) directly inside `folder`, sorted by
    name (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DerainError(f"{folder}: no such directory")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith("."))
