"""Issue 30: outputs keep the input's metadata (EXIF, ICC, XMP, DPI, PNG text) and a JPEG its quality."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageCms, JpegImagePlugin, PngImagePlugin

from derain.io import DEFAULT_QUALITY, Encoding, Picture, estimate_jpeg_quality, read_picture, write_picture

from conftest import add_streaks, run_cli, scene

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
       b' tiff:Orientation="6" dc:creator="Ada Lovelace"/></rdf:RDF></x:xmpmeta>')
TAKEN = "2024:05:01 10:20:30"
GPS = {1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 17.0, 40.0)}  # latitude/longitude, ref and value
MAKER_NOTE = bytes(range(256)) * 4  # opaque bytes with offsets of their own: must come back byte for byte


def textured(h: int = 480, w: int = 640) -> np.ndarray:
    """A rainy scene with fine texture and sensor-like noise, so JPEG sizes are a photo's, not a gradient's."""
    yy, xx = np.mgrid[0:h, 0:w]
    detail = 0.08 * np.sin(xx / 2.3) * np.cos(yy / 3.1) + np.random.default_rng(0).normal(0, 0.03, (h, w))
    return np.clip(add_streaks(scene(h, w)) + detail[..., None], 0, 1)


def phone_jpeg(path: Path, quality: int = 80, subsampling: int = 2, h: int = 480, w: int = 640) -> None:
    """A JPEG as a phone writes it: sideways pixels (orientation 6), date, GPS, maker note, ICC and XMP."""
    exif = Image.Exif()
    exif.update({0x010F: "Pixel", 0x0110: "Phone 9", 0x0112: 6, 0x0132: TAKEN})
    exif[0x8769] = {0x9003: TAKEN, 0x927C: MAKER_NOTE}
    exif[0x8825] = GPS
    Image.fromarray((textured(h, w) * 255).round().astype(np.uint8)).save(
        path, quality=quality, subsampling=subsampling, exif=exif, icc_profile=ICC, xmp=XMP, dpi=(72, 72))


def assert_photo_metadata(path: Path, xmp: bool = True) -> None:
    """EXIF date, GPS, maker note, make, ICC and XMP are the input's; orientation says 'as stored'."""
    with Image.open(path) as im:
        exif = im.getexif()
        assert exif[0x0112] == 1 and exif[0x010F] == "Pixel"
        assert exif.get_ifd(0x8769)[0x9003] == TAKEN and exif.get_ifd(0x8769)[0x927C] == MAKER_NOTE
        assert {k: exif.get_ifd(0x8825)[k] for k in GPS} == GPS
        assert im.info["icc_profile"] == ICC
        if xmp:
            assert b'dc:creator="Ada Lovelace"' in im.info["xmp"] and b"tiff:Orientation" not in im.info["xmp"]


def png_chunks(path: Path) -> dict[bytes, list[bytes]]:
    chunks: dict[bytes, list[bytes]] = {}
    for kind, data in png.Reader(filename=str(path)).chunks():
        chunks.setdefault(kind, []).append(data)
    return chunks


def test_jpeg_round_trip_keeps_exif_icc_xmp_and_dpi(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jpg", tmp_path / "out.jpg"
    phone_jpeg(src, h=48, w=64)
    pic = read_picture(src)
    assert pic.rgb.shape == (64, 48, 3)  # turned upright on read
    write_picture(dst, pic)
    assert_photo_metadata(dst)
    with Image.open(src) as a, Image.open(dst) as b:
        assert b.size == (48, 64) and b.info["dpi"] == (72, 72)
        before, after = a.info["exif"], b.info["exif"]
    # the EXIF block is the input's, patched in place: only the orientation's value differs
    assert len(before) == len(after) and sum(x != y for x, y in zip(before, after)) == 1


@pytest.mark.parametrize("ext", ["png", "webp"])
def test_jpeg_metadata_goes_into_png_and_webp(tmp_path: Path, ext: str) -> None:
    phone_jpeg(tmp_path / "in.jpg", h=48, w=64)
    write_picture(tmp_path / f"out.{ext}", read_picture(tmp_path / "in.jpg"))
    assert_photo_metadata(tmp_path / f"out.{ext}")


def test_jpeg_metadata_goes_into_tiff_where_tifffile_writes_it(tmp_path: Path) -> None:
    phone_jpeg(tmp_path / "in.jpg", h=48, w=64)
    write_picture(tmp_path / "out.tif", read_picture(tmp_path / "in.jpg"))
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        tags = tif.pages[0].tags
        assert tags["InterColorProfile"].value == ICC and b"Ada Lovelace" in tags["XMP"].value
        assert tags["Make"].value == "Pixel" and tags["DateTime"].value == TAKEN and tags["Orientation"].value == 1
        assert tags["XResolution"].value == (72, 1) and tags["ResolutionUnit"].value == 2


def test_sixteen_bit_png_keeps_icc_text_and_dpi(tmp_path: Path) -> None:
    rgb = scene(12, 16)
    buf = io.BytesIO()
    png.Writer(16, 12, greyscale=False, bitdepth=16).write(buf, (rgb * 65535).round().astype(np.uint16).reshape(12, -1))
    chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
    extra = [(b"iCCP", b"Display P3\0\0" + zlib.compress(ICC)), (b"pHYs", struct.pack(">IIB", 11811, 11811, 1)),
             (b"tEXt", b"Author\0Ada"), (b"iTXt", b"Title\0\0\0en\0Titel\0Regen \xc3\xbcber Wien")]
    src = tmp_path / "in.png"
    with src.open("wb") as fh:
        png.write_chunks(fh, [chunks[0], *extra, *chunks[1:]])
    pic = read_picture(src)
    assert pic.bit_depth == 16
    write_picture(tmp_path / "out.png", pic)
    out = png_chunks(tmp_path / "out.png")
    assert out[b"IHDR"][0][8] == 16  # still 16 bits a sample
    with Image.open(tmp_path / "out.png") as im:
        im.load()
        assert im.info["icc_profile"] == ICC and im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert im.text["Author"] == "Ada" and im.text["Title"] == "Regen über Wien" and im.text["Title"].lang == "en"
    assert np.abs(read_picture(tmp_path / "out.png").rgb - pic.rgb).max() < 1e-6


def test_eight_bit_png_keeps_gamma_chromaticity_and_long_text(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 45455))
    info.add(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    info.add_text("Comment", "rain " * 500, zip=True)
    Image.fromarray((scene() * 255).astype(np.uint8)).save(tmp_path / "in.png", pnginfo=info)
    write_picture(tmp_path / "out.png", read_picture(tmp_path / "in.png"))
    with Image.open(tmp_path / "out.png") as im:
        im.load()
        assert im.info["gamma"] == pytest.approx(0.45455)
        assert im.info["chromaticity"] == pytest.approx((0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06))
        assert im.text["Comment"] == "rain " * 500


def test_tiff_keeps_icc_dpi_xmp_and_its_unapplied_orientation(tmp_path: Path) -> None:
    rgb = (scene(12, 16) * 65535).round().astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", rgb, photometric="rgb", iccprofile=ICC, resolution=(240, 240),
                     resolutionunit="INCH", extratags=[(700, "B", len(XMP), XMP, True), (0x0112, "H", 1, 6, True),
                                                       (0x010F, "s", 0, "Scanner", True)])
    pic = read_picture(tmp_path / "in.tif")
    assert pic.bit_depth == 16 and pic.rgb.shape == (12, 16, 3)  # tifffile leaves the orientation to the viewer...
    write_picture(tmp_path / "out.tif", pic)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.tags["InterColorProfile"].value == ICC
        assert page.tags["XResolution"].value == (240, 1) and page.tags["ResolutionUnit"].value == 2
        assert page.tags["XMP"].value == XMP and page.tags["Make"].value == "Scanner"
        assert page.tags["Orientation"].value == 6  # ...so the output still asks for it


@pytest.mark.parametrize("quality", [10, 50, 75, 80, 92, 100])
def test_quality_estimate_matches_libjpeg(quality: int) -> None:
    buf = io.BytesIO()
    Image.fromarray((scene() * 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    with Image.open(buf) as im:
        assert estimate_jpeg_quality(im.quantization) == quality


@pytest.mark.parametrize("subsampling", [0, 1, 2])
def test_jpeg_written_at_the_input_quality_and_subsampling(tmp_path: Path, subsampling: int) -> None:
    phone_jpeg(tmp_path / "in.jpg", quality=70, subsampling=subsampling, h=48, w=64)
    write_picture(tmp_path / "out.jpg", read_picture(tmp_path / "in.jpg"))
    with Image.open(tmp_path / "out.jpg") as im:
        assert estimate_jpeg_quality(im.quantization) == 70 and JpegImagePlugin.get_sampling(im) == subsampling


def test_explicit_quality_and_non_jpeg_inputs(tmp_path: Path) -> None:
    phone_jpeg(tmp_path / "in.jpg", quality=70, h=48, w=64)
    write_picture(tmp_path / "asked.jpg", read_picture(tmp_path / "in.jpg"), encoding=Encoding(quality=40))
    Image.fromarray((scene() * 255).astype(np.uint8)).save(tmp_path / "in.png")
    write_picture(tmp_path / "from_png.jpg", read_picture(tmp_path / "in.png"))
    with Image.open(tmp_path / "asked.jpg") as asked, Image.open(tmp_path / "from_png.jpg") as from_png:
        assert estimate_jpeg_quality(asked.quantization) == 40
        assert estimate_jpeg_quality(from_png.quantization) == DEFAULT_QUALITY


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_stays_lossless_or_lossy(tmp_path: Path, lossless: bool) -> None:
    Image.fromarray((scene() * 255).astype(np.uint8)).save(tmp_path / "in.webp", lossless=lossless, icc_profile=ICC)
    write_picture(tmp_path / "out.webp", read_picture(tmp_path / "in.webp"))
    data = (tmp_path / "out.webp").read_bytes()
    assert (b"VP8L" in data) == lossless and (b"VP8 " in data) != lossless
    with Image.open(tmp_path / "out.webp") as im:
        assert im.info["icc_profile"] == ICC


def test_profile_of_another_colour_space_is_dropped(tmp_path: Path) -> None:
    cmyk_profile = ICC[:16] + b"CMYK" + ICC[20:]  # a CMYK JPEG's: Pillow converts its pixels to RGB
    Image.new("CMYK", (16, 12), (10, 200, 30, 0)).save(tmp_path / "in.jpg", icc_profile=cmyk_profile)
    pic = read_picture(tmp_path / "in.jpg")
    assert pic.meta.icc is None
    write_picture(tmp_path / "out.jpg", pic)
    with Image.open(tmp_path / "out.jpg") as im:
        assert "icc_profile" not in im.info


def test_unedited_picture_writes_no_metadata(tmp_path: Path) -> None:
    write_picture(tmp_path / "out.jpg", Picture(scene()))
    with Image.open(tmp_path / "out.jpg") as im:
        assert "exif" not in im.info and "icc_profile" not in im.info and "xmp" not in im.info


def test_cli_keeps_metadata_quality_and_size(tmp_path: Path) -> None:
    src = tmp_path / "photo.jpg"
    phone_jpeg(src, quality=80, subsampling=2)
    proc = run_cli("remove", str(src))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "photo_derained.jpg"
    assert_photo_metadata(out)
    with Image.open(out) as im:
        assert im.size == (480, 640)  # upright pixels, orientation 1
        assert abs(estimate_jpeg_quality(im.quantization) - 80) <= 1 and JpegImagePlugin.get_sampling(im) == 2
    assert out.stat().st_size <= 1.3 * src.stat().st_size


def test_cli_jpeg_quality_option(tmp_path: Path) -> None:
    """`--jpeg-quality` overrides the input's quality; values outside 1-100 are one line, exit 2, no output."""
    src = tmp_path / "photo.jpg"
    phone_jpeg(src, quality=80, h=48, w=64)
    proc = run_cli("remove", str(src), "--jpeg-quality", "50")
    assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / "photo_derained.jpg") as im:
        assert estimate_jpeg_quality(im.quantization) == 50
    for bad in ("0", "101", "high"):
        proc = run_cli("remove", str(src), "-o", str(tmp_path / "bad"), "--jpeg-quality", bad)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--jpeg-quality" in proc.stderr, proc.stderr
    assert not (tmp_path / "bad").exists()
