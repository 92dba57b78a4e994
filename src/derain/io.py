"""Image reading and writing that keeps what a photographer cares about.

* EXIF orientation is applied on read (formats decoded by Pillow: JPEG, 8-bit PNG, WebP), so the
  pixels are the way the photo is shown.
* Metadata is carried to the output (`Metadata`): EXIF (orientation 1 once it is applied), the ICC
  profile, XMP, DPI and PNG text, each where the output format has a place for it. Pixel values are
  never converted between colour spaces, so the carried profile stays true.
* A JPEG is written at the input's quality (estimated from its quantisation tables) and chroma
  subsampling, so a derained photo is about the size of the original; a WebP stays lossless or lossy.
* 8- and 16-bit PNG/TIFF, JPEG, BMP and WebP; grayscale and RGBA (alpha is carried separately and
  written back untouched). Pillow cannot hold 16-bit colour, so 16-bit PNG goes through pypng and
  TIFF through tifffile.
* A decompression bomb (more than `MAX_PIXELS`) is refused before any pixel is decoded.
* Writes are atomic: a temporary file in the destination folder, published under its name (never
  over an existing file unless asked), so a crash, a kill, a concurrent run or a bad input never
  leaves a partial or clobbered output.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import png
import tifffile
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from derain.atomic import atomic_write, exists_error
from derain.errors import DerainError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_PIXELS = 100_000_000  # 100 MP: above any camera a user derains, below a bomb's size
_TIFF = (".tif", ".tiff")
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # Pillow raises its bomb error at twice this...
warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # ...and only warns below; we check ourselves


DEFAULT_QUALITY = 95  # JPEG/WebP quality when the input's is unknown (not a JPEG) and none is asked
# zlib level of PNG outputs: 1 writes a 12-MP photo about 4x faster than Pillow's default 6, for files 3 %
# larger on the Kodak photos and 21 % on the synthetic one of benchmarks/bench_e2e.py (docs/benchmarks/e2e.json)
PNG_LEVEL = 1


@dataclass(frozen=True)
class Encoding:
    """How outputs are compressed, chosen once for a run (`--jpeg-quality`, `--png-compression`)."""

    quality: int | None = None  # JPEG/WebP 1-100; None keeps a JPEG input's (else DEFAULT_QUALITY)
    png_level: int = PNG_LEVEL  # zlib 0-9
# EXIF's IFD 0 tags a TIFF holds alike: Make, Model, Orientation, DateTime, Artist, Copyright
_TIFF_EXIF_TAGS = (0x010F, 0x0110, 0x0112, 0x0132, 0x013B, 0x8298)
_PNG_META_CHUNKS = (b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"eXIf")
_PNG_XMP_KEY = "XML:com.adobe.xmp"
# IJG's base quantisation tables (JPEG standard, Annex K), natural order: what `quality` scales
_IJG_TABLES = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    [17, 18, 24, 47, *[99] * 4, 18, 21, 26, 66, *[99] * 4, 24, 26, 56, *[99] * 5, 47, 66, *[99] * 38],
])


@dataclass
class Metadata:
    """What a file carries besides its pixels, kept so that a derained output is the same photo."""

    exif: bytes | None = None  # "Exif\0\0" + TIFF block, its orientation true of the decoded pixels
    icc: bytes | None = None  # only one that describes the decoded pixels (not a CMYK JPEG's)
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    png_text: dict[str, str] = field(default_factory=dict)  # tEXt/zTXt/iTXt (iTXt keeps its language)
    png_colour: list[tuple[bytes, bytes]] = field(default_factory=list)  # sRGB/gAMA/cHRM chunks
    jpeg_quality: int | None = None  # IJG quality that best matches the input's tables
    jpeg_subsampling: int | None = None  # Pillow's: 0 4:4:4, 1 4:2:2, 2 4:2:0
    webp_lossless: bool | None = None


@dataclass
class Picture:
    """Decoded image: RGB float32 (H, W, 3) in [0, 1], plus what is needed to write it back alike."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None  # (H, W) float32 in [0, 1]
    bit_depth: int = 8
    grayscale: bool = False
    meta: Metadata = field(default_factory=Metadata)


def check_size(width: int, height: int, path: Path) -> None:
    """Refuse a picture (or a video's frames) from its header: over `MAX_PIXELS`, or empty."""
    if width * height > MAX_PIXELS:
        raise DerainError(f"{path}: {width}x{height} pixels exceeds the limit of {MAX_PIXELS:,} (decompression bomb?)")
    if width < 1 or height < 1:
        raise DerainError(f"{path}: empty image ({width}x{height})")


def _from_channels(arr: np.ndarray, scale: float, bit_depth: int) -> Picture:
    """Split an (H, W[, C]) integer array into RGB / alpha floats, each converted in one pass."""
    if arr.ndim == 2:
        arr = arr[..., None]
    channels = arr.shape[2]
    gray = channels in (1, 2)
    color = np.repeat(arr[..., :1], 3, axis=2) if gray else arr[..., :3]
    alpha = np.divide(arr[..., -1], scale, dtype=np.float32) if channels in (2, 4) else None
    return Picture(np.divide(color, scale, dtype=np.float32), alpha, bit_depth, gray)


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


def estimate_jpeg_quality(qtables: dict[int, list[int]]) -> int:
    """The IJG quality (1-100) whose scaled standard tables are closest to `qtables` (Pillow's
    `quantization`, natural order): libjpeg, and the cameras and editors built on it, make them so."""
    tables = [np.asarray(qtables[key]) for key in sorted(qtables)[:2]]

    def distance(quality: int) -> int:
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        ijg = np.clip((_IJG_TABLES * scale + 50) // 100, 1, 255)
        return sum(int(np.abs(ijg[i] - table).sum()) for i, table in enumerate(tables))

    return min(range(1, 101), key=distance)


def _webp_lossless(path: Path) -> bool | None:
    """Whether a WebP's image is lossless (VP8L) or lossy (VP8), which Pillow does not report."""
    with path.open("rb") as fh:
        fh.seek(12)  # past "RIFF", the size and "WEBP"
        while len(head := fh.read(8)) == 8:
            fourcc, size = head[:4], int.from_bytes(head[4:], "little")
            if fourcc in (b"VP8 ", b"VP8L"):
                return fourcc == b"VP8L"
            fh.seek(size + size % 2, os.SEEK_CUR)
    return None  # e.g. animated: its frames say, each on its own


def _upright(exif: bytes) -> bytes:
    """`exif` with orientation 1, for pixels already turned upright. Patched in place: rewriting the
    block would move the maker notes, whose internal offsets would then point at garbage."""
    order = "<" if exif[6:8] == b"II" else ">"
    try:
        first = 6 + struct.unpack_from(order + "I", exif, 10)[0]
        (count,) = struct.unpack_from(order + "H", exif, first)
        for entry in range(first + 2, first + 2 + 12 * count, 12):
            if struct.unpack_from(order + "HH", exif, entry) == (0x0112, 3):  # orientation, a SHORT
                patched = bytearray(exif)
                struct.pack_into(order + "H", patched, entry + 8, 1)
                return bytes(patched)
    except struct.error:  # truncated block: no orientation Pillow could have applied either
        pass
    return exif


def _tiff_exif(im: Image.Image) -> bytes | None:
    """A TIFF's EXIF: its descriptive tags and EXIF/GPS IFDs (the rest of its IFD 0 is about its strips)."""
    tags, exif = im.getexif(), Image.Exif()
    for tag in _TIFF_EXIF_TAGS:
        if tag in tags:
            exif[tag] = tags[tag]
    for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
        if sub := tags.get_ifd(ifd):
            exif[ifd] = sub
    return exif.tobytes() if len(exif) else None


def _metadata(src: Image.Image, shown: Image.Image, path: Path, upright: bool) -> Metadata:
    """What `src` carries besides pixels. `shown` is it after `exif_transpose`, which also took the
    orientation out of its XMP; `upright`: whether the pixels were turned as the EXIF says."""
    info = shown.info
    exif = _tiff_exif(src) if src.format == "TIFF" else src.info.get("exif")
    if exif and not exif.startswith(b"Exif\0\0"):
        exif = b"Exif\0\0" + exif  # WebP's chunk may go without; JPEG's APP1 needs it
    xmp = info.get("xmp")
    meta = Metadata(exif=_upright(exif) if exif and upright else exif or None, icc=info.get("icc_profile") or None,
                    xmp=xmp.encode() if isinstance(xmp, str) else xmp or None, dpi=info.get("dpi"))
    if isinstance(src, PngImagePlugin.PngImageFile):
        meta.png_text = {key: info.get(key, value) for key, value in src.text.items() if key != _PNG_XMP_KEY}
        if "srgb" in info:
            meta.png_colour.append((b"sRGB", bytes([info["srgb"]])))
        if "gamma" in info:
            meta.png_colour.append((b"gAMA", struct.pack(">I", round(info["gamma"] * 100000))))
        if "chromaticity" in info:
            meta.png_colour.append((b"cHRM", struct.pack(">8I", *(round(v * 100000) for v in info["chromaticity"]))))
    elif isinstance(src, JpegImagePlugin.JpegImageFile) and src.quantization:  # MPO (phones) included
        meta.jpeg_quality = estimate_jpeg_quality(src.quantization)
        sampling = JpegImagePlugin.get_sampling(src)
        meta.jpeg_subsampling = sampling if sampling >= 0 else None
    elif src.format == "WEBP":
        meta.webp_lossless = _webp_lossless(path)
    return meta


def _png16_metadata(path: Path) -> Metadata:
    """A PNG's metadata when pypng decodes it: its metadata chunks, parsed by Pillow in a 1-pixel PNG."""
    chunks = [chunk for chunk in png.Reader(filename=str(path)).chunks() if chunk[0] in _PNG_META_CHUNKS]
    buf = io.BytesIO()
    png.write_chunks(buf, [(b"IHDR", struct.pack(">2I5B", 1, 1, 8, 0, 0, 0, 0)), *chunks,
                           (b"IDAT", zlib.compress(b"\0\0")), (b"IEND", b"")])
    with Image.open(buf) as im:
        im.load()  # text after the image data is read only here
        return _metadata(im, im, path, upright=False)


def _tiff_metadata(path: Path) -> Metadata:
    """A TIFF's metadata when tifffile decodes it (which leaves its orientation to the viewer)."""
    try:
        with Image.open(path) as im:  # reads the tags only
            return _metadata(im, im, path, upright=False)
    except (OSError, ValueError, SyntaxError):  # a TIFF Pillow cannot parse: its pixels are still good
        return Metadata()


def _with_meta(pic: Picture, meta: Metadata) -> Picture:
    """`pic` carrying `meta`, less an ICC profile of another colour space (a CMYK JPEG's, converted)."""
    if meta.icc and meta.icc[16:20] != (b"GRAY" if pic.grayscale else b"RGB "):
        meta.icc = None
    pic.meta = meta
    return pic


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
            return _with_meta(pic, _tiff_metadata(path))
        if path.suffix.lower() == ".png" and _png_bit_depth(path) == 16:
            return _with_meta(_read_png16(path), _png16_metadata(path))
        with Image.open(path) as src:
            check_size(src.width, src.height, path)
            im = ImageOps.exif_transpose(src)
            meta = _metadata(src, im, path, upright=True)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return _with_meta(_from_channels(np.asarray(im).astype(np.uint16), 65535.0, 16), meta)
            if im.mode not in ("L", "LA", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
            return _with_meta(_from_channels(np.asarray(im), 255.0, 8), meta)
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
    """Round [0, 1] floats to `bit_depth` bits, a band of rows at a time (its float copy stays in cache)."""
    top = 65535 if bit_depth == 16 else 255
    out = np.empty(arr.shape, np.uint16 if bit_depth == 16 else np.uint8)
    step = max(1, (1 << 18) // max(1, arr.size // max(1, len(arr))))
    for y in range(0, len(arr), step):
        band = arr[y:y + step] * top
        np.clip(np.rint(band, out=band), 0, top, out=band)
        out[y:y + step] = band
    return out


def _pillow_options(fmt: str, meta: Metadata, encoding: Encoding) -> dict[str, Any]:
    """`Image.save` options writing `meta` where `fmt` has a place for it, compressed as `encoding` says."""
    quality = encoding.quality
    if fmt == "JPEG":
        options = {"quality": (meta.jpeg_quality or DEFAULT_QUALITY) if quality is None else quality,
                   "subsampling": meta.jpeg_subsampling, "exif": meta.exif, "icc_profile": meta.icc,
                   "xmp": meta.xmp, "dpi": meta.dpi}
    elif fmt == "WEBP":
        lossy = {"quality": DEFAULT_QUALITY if quality is None else quality}
        options = {"lossless": True} if meta.webp_lossless else lossy
        options.update(exif=meta.exif and meta.exif[6:], icc_profile=meta.icc, xmp=meta.xmp)  # spec: no "Exif" head
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        for cid, data in meta.png_colour:
            info.add(cid, data)
        for key, value in meta.png_text.items():
            info.add_text(key, value, zip=len(value) > 1024)
        if meta.xmp:
            info.add_itxt(_PNG_XMP_KEY, meta.xmp.decode("utf-8", "replace"))
        options = {"compress_level": encoding.png_level, "pnginfo": info, "exif": meta.exif, "icc_profile": meta.icc,
                   "dpi": meta.dpi}
    else:
        options = {"dpi": meta.dpi}  # BMP
    return {key: value for key, value in options.items() if value is not None}


def _png16_chunks(meta: Metadata) -> list[tuple[bytes, bytes]]:
    """Metadata chunks for a PNG pypng writes, encoded by Pillow in a 1-pixel PNG."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG", **_pillow_options("PNG", meta, Encoding()))
    return [chunk for chunk in png.Reader(bytes=buf.getvalue()).chunks() if chunk[0] in _PNG_META_CHUNKS]


def _tiff_options(meta: Metadata) -> dict[str, Any]:
    """tifffile options writing `meta`: ICC, DPI, XMP and EXIF's IFD 0 tags (tifffile writes no EXIF IFDs)."""
    tags: list[tuple[int, str, int, Any, bool]] = [(700, "B", len(meta.xmp), meta.xmp, True)] if meta.xmp else []
    if meta.exif:
        exif = Image.Exif()
        exif.load(meta.exif)
        tags += [(tag, "H", 1, exif[tag], True) if tag == 0x0112 else (tag, "s", 0, str(exif[tag]), True)
                 for tag in _TIFF_EXIF_TAGS if tag in exif]
    options: dict[str, Any] = {"iccprofile": meta.icc, "extratags": tags}
    if meta.dpi:
        options.update(resolution=meta.dpi, resolutionunit="INCH")
    return options


def _encode(path: Path, target: Path, pic: Picture, encoding: Encoding) -> None:
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
            tifffile.imwrite(path, data[..., 0], photometric=photometric, **_tiff_options(pic.meta))
        else:
            tifffile.imwrite(path, data, photometric=photometric, planarconfig="contig", **extra,
                             **_tiff_options(pic.meta))
    elif ext == ".png" and depth == 16:
        h, w, c = data.shape
        buf = io.BytesIO()
        png.Writer(w, h, greyscale=c <= 2, alpha=c in (2, 4), bitdepth=16, compression=encoding.png_level).write(
            buf, data.reshape(h, w * c))
        chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
        with path.open("wb") as fh:  # metadata right after the header, where iCCP must be
            png.write_chunks(fh, [chunks[0], *_png16_chunks(pic.meta), *chunks[1:]])
    else:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[data.shape[2]]
        im = Image.fromarray(data[..., 0] if mode == "L" else data, mode=mode)
        fmt = Image.registered_extensions()[ext]
        if fmt == "JPEG" and im.mode in ("LA", "RGBA"):
            im = im.convert(im.mode[:-1])  # JPEG has no alpha
        elif fmt == "BMP" and im.mode == "LA":
            im = im.convert("RGBA")  # BMP has no gray+alpha mode
        im.save(path, format=fmt, **_pillow_options(fmt, pic.meta, encoding))


def write_picture(path: str | os.PathLike[str], pic: Picture, overwrite: bool = False,
                  encoding: Encoding = Encoding()) -> None:
    """Atomically write `pic` to `path` (format from the extension), with the metadata it carries.

    A JPEG is written at the input's quality unless `encoding` names one, so the output is about
    the input's size; a PNG at `encoding.png_level` (`PNG_LEVEL` says why 1). TIFF is written
    uncompressed, the fastest there is.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise exists_error(target)
    if not is_image_name(target):
        raise DerainError(f"{target}: unsupported output format {target.suffix!r}; "
                          f"use one of {', '.join(IMAGE_EXTENSIONS)}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp: _encode(tmp, target, pic, encoding), suffix=target.suffix,
                     overwrite=overwrite)
    except OSError as exc:
        raise DerainError(f"{target}: cannot write ({exc.strerror or exc})") from exc


def write_rgb(path: str | os.PathLike[str], rgb: np.ndarray, overwrite: bool = False,
              encoding: Encoding = Encoding()) -> None:
    """Write an RGB float array in [0, 1] as an 8-bit image (atomically)."""
    write_picture(path, Picture(np.asarray(rgb, dtype=np.float32)), overwrite=overwrite, encoding=encoding)


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
