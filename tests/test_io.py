"""Image I/O: bit depths, modes, EXIF, atomic writes, and refusal of bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from derain.errors import DerainError
from derain.io import Picture, list_images, read_picture, write_picture

from conftest import scene


@pytest.mark.parametrize("ext", ["png", "tif"])
@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("alpha", [False, True])
def test_sixteen_bit_round_trip(tmp_path, ext: str, gray: bool, alpha: bool) -> None:
    rgb = scene(9, 11)
    if gray:
        rgb = np.repeat(rgb.mean(axis=2, keepdims=True), 3, axis=2)
    a = np.linspace(0, 1, 99, dtype=np.float32).reshape(9, 11) if alpha else None
    path = tmp_path / f"x.{ext}"
    write_picture(path, Picture(rgb, a, 16, gray))
    pic = read_picture(path)
    assert (pic.bit_depth, pic.grayscale, pic.alpha is not None) == (16, gray, alpha)
    assert np.abs(pic.rgb - rgb).max() <= 0.5 / 65535 + 1e-7  # 16-bit precision kept, not 8-bit
    if alpha:
        assert np.abs(pic.alpha - a).max() <= 0.5 / 65535 + 1e-7


@pytest.mark.parametrize("ext", ["png", "bmp", "webp", "jpg"])
def test_eight_bit_formats(tmp_path, ext: str) -> None:
    rgb = scene()
    path = tmp_path / f"x.{ext}"
    write_picture(path, Picture(rgb))
    pic = read_picture(path)
    assert pic.rgb.shape == rgb.shape and pic.rgb.dtype == np.float32 and pic.bit_depth == 8
    tol = 0.5 / 255 + 1e-6 if ext in ("png", "bmp") else 0.1  # lossy formats: just close
    assert np.abs(pic.rgb - rgb).mean() <= tol


def test_exif_orientation_is_applied(tmp_path) -> None:
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=100)
    pic = read_picture(path)
    assert pic.rgb.shape == (20, 10, 3)
    assert pic.rgb[:8].mean() > 0.9 and pic.rgb[12:].mean() < 0.1  # white ends up on top


def test_palette_image_is_converted(tmp_path) -> None:
    path = tmp_path / "p.png"
    Image.fromarray((scene() * 255).astype(np.uint8)).convert("P").save(path)
    assert read_picture(path).rgb.shape == (64, 80, 3)


def _png_with_size(path: Path, width: int, height: int) -> None:
    """A valid tiny PNG whose header claims another size (a decompression bomb's signature)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def test_decompression_bomb_is_refused_before_decoding(tmp_path) -> None:
    path = tmp_path / "bomb.png"
    _png_with_size(path, 50_000, 50_000)
    with pytest.raises(DerainError, match="decompression bomb"):
        read_picture(path)


@pytest.mark.parametrize("content,match", [
    (b"", "empty file"),
    (b"hello, I am text", "not a readable image"),
])
def test_bad_files(tmp_path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(DerainError, match=match):
        read_picture(path)


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_truncated_file(tmp_path, ext: str) -> None:
    path = tmp_path / f"t.{ext}"
    write_picture(path, Picture(scene(128, 128)))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DerainError, match="corrupt or truncated"):
        read_picture(path)


def test_missing_and_directory(tmp_path) -> None:
    with pytest.raises(DerainError, match="no such file"):
        read_picture(tmp_path / "missing.png")
    with pytest.raises(DerainError, match="is a directory"):
        read_picture(tmp_path)


def test_write_refuses_to_overwrite_and_leaves_no_temp(tmp_path) -> None:
    path = tmp_path / "out.png"
    write_picture(path, Picture(scene()))
    before = path.read_bytes()
    with pytest.raises(DerainError, match="already exists"):
        write_picture(path, Picture(scene(seed=3) * 0.5))
    assert path.read_bytes() == before
    write_picture(path, Picture(scene() * 0.5), overwrite=True)
    assert path.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_failed_write_leaves_nothing(tmp_path) -> None:
    with pytest.raises(DerainError, match="unsupported output format"):
        write_picture(tmp_path / "out.xyz", Picture(scene()))
    assert list(tmp_path.iterdir()) == []


def test_list_images_filters_and_sorts(tmp_path) -> None:
    for name in ["b.png", "a.JPG", ".hidden.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]


def test_lzw_and_planar_tiff(tmp_path) -> None:
    """LZW needs a codec tifffile lacks here (Pillow reads it); planar 16-bit keeps channels last."""
    import tifffile

    a = (scene(20, 30) * 255).round().astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    assert np.array_equal((read_picture(tmp_path / "lzw.tif").rgb * 255).round(), a)
    b = (scene(20, 30) * 65535).round().astype(np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(b, -1, 0), photometric="rgb", planarconfig="separate")
    pic = read_picture(tmp_path / "planar.tif")
    assert pic.bit_depth == 16 and np.array_equal((pic.rgb * 65535).round(), b)
