"""The inference engine: dtype/shape preservation, alpha, and seamless tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import derain
from derain.archs import create_model
from derain.archs.vapour import SIZE
from derain.errors import DerainError
from derain.formation import unveil
from derain.inference import DEFAULT_OVERLAP, FAST_TILE_PIXELS, Derainer, _ramp, _starts

from conftest import add_streaks, scene


@pytest.fixture(scope="module")
def shipped() -> Derainer:
    return derain.load_model()


@pytest.mark.parametrize("tile,overlap", [(128, 32), (100, 40), (256, 96)])
def test_tiling_is_exact_for_a_network_that_sees_less_than_the_overlap(tile: int, overlap: int) -> None:
    """The engine's tiles and blend: a network whose receptive field (7 px) fits in the quarter of the
    overlap that weighs nothing gives the one-piece result to float precision, whatever the weights."""
    torch.manual_seed(0)
    local = torch.nn.Sequential(*(torch.nn.Conv2d(3, 3, 3, padding=1) for _ in range(3)))
    rainy = torch.from_numpy(add_streaks(scene(300, 420), seed=1).transpose(2, 0, 1).copy())
    whole = Derainer(local, tile=0).restore(rainy)
    tiled = Derainer(local, tile=tile, overlap=overlap).restore(rainy)
    assert (whole - tiled).abs().max().item() < 1e-5


def test_tiled_output_of_the_shipped_model_stays_close_to_untiled(shipped: Derainer) -> None:
    """The shipped model decides from a context wider than the overlap, so tiles can disagree where a
    streak crosses the blend zone: measured for the long supervised arm, 6.8/255 at most, over 2/255
    in 0.03 % of the pixels, 0.008/255 on average. A broken blend would move every pixel of the
    seams; the mean stays near zero."""
    rainy = torch.from_numpy(add_streaks(scene(300, 420), seed=1).transpose(2, 0, 1).copy())
    shipped.tile = 0
    whole = shipped.restore(rainy)
    shipped.tile, shipped.overlap = 256, 96  # 2 x 2 tiles, the last ones snapped to the 8-px grid
    tiled = shipped.restore(rainy)
    shipped.tile, shipped.overlap = "auto", DEFAULT_OVERLAP
    diff = (whole - tiled).abs()
    assert diff.mean().item() <= 0.05 / 255 and (diff > 2 / 255).float().mean().item() < 0.002


@pytest.mark.parametrize("size,tile,overlap,align", [(300, 128, 32, 1), (300, 128, 32, 8), (1001, 256, 40, 8)])
def test_tile_origins_cover_the_axis(size: int, tile: int, overlap: int, align: int) -> None:
    assert _starts(100, 128, 16, align) == [0]
    starts = _starts(size, tile, overlap, align)
    assert starts[0] == 0 and starts[-1] + tile >= size and starts[-1] < size
    assert all(s % align == 0 for s in starts)
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # neighbours overlap


@pytest.mark.parametrize("dtype,top", [(np.uint8, 255), (np.uint16, 65535), (np.float32, 1.0)])
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_remove_keeps_shape_dtype_and_alpha(shipped: Derainer, dtype, top, channels) -> None:
    rgb = add_streaks(scene(40, 52))
    if channels is None:
        img = rgb.mean(axis=2)
    elif channels == 1:
        img = rgb.mean(axis=2, keepdims=True)
    elif channels == 3:
        img = rgb
    else:
        img = np.concatenate([rgb, np.linspace(0, 1, 40 * 52).reshape(40, 52, 1)], axis=2)
    img = (img * top).astype(dtype) if top > 1 else img.astype(dtype)
    out = shipped.remove(img)
    assert out.shape == img.shape and out.dtype == img.dtype
    assert out.min() >= 0 and out.max() <= top
    if channels == 4:
        assert np.array_equal(out[..., 3], img[..., 3])


def test_remove_rejects_bad_arrays(shipped: Derainer) -> None:
    with pytest.raises(DerainError, match="expected an"):
        shipped.remove(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(DerainError, match="unsupported image dtype"):
        shipped.remove(np.zeros((4, 4, 3), np.int64))


def test_derain_error_is_part_of_the_package_api() -> None:
    """Issue 30 item 2: a caller catches `derain.DerainError` without knowing the module it lives in."""
    assert derain.DerainError is DerainError and "DerainError" in derain.__all__


@pytest.mark.parametrize("value", [255.0, -0.5, 1.5, 1e38])
def test_float_images_outside_0_1_are_refused(shipped: Derainer, value: float) -> None:
    """Issue 30 item 1: 0-255 floats were clipped to a white picture, and 1e38 (inf once in float32)
    blamed the model's weights; the message names the range, on one line."""
    img = scene(16, 16).astype(np.float64)
    img[3, 4, 1] = value
    with pytest.raises(DerainError, match=r"\[0, 1\]") as caught:
        shipped.remove(img)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("channel", [0, 3])
def test_non_finite_input_is_blamed_on_the_input(shipped: Derainer, value: float, channel: int) -> None:
    """Issue 30 item 1: NaN or inf anywhere, alpha included, is the input's fault, not the weights'."""
    img = np.concatenate([scene(16, 16), np.ones((16, 16, 1), np.float32)], axis=2)
    img[5, 6, channel] = value
    with pytest.raises(DerainError, match="input image is not finite") as caught:
        shipped.remove(img)
    assert "weights" not in str(caught.value)


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 64, 3), (64, 0), (0, 0, 4)])
def test_empty_images_are_refused(shipped: Derainer, shape: tuple[int, ...]) -> None:
    """Issue 30 item 1: torch's error about "12 channels" said nothing about the real cause."""
    with pytest.raises(DerainError, match="empty image"):
        shipped.remove(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("dtype", [">u2", ">f4", ">f8", "<u2"])
def test_any_byte_order_is_accepted(shipped: Derainer, dtype: str) -> None:
    """Issue 30 item 1: some TIFF readers return big-endian uint16; the values count, not their byte
    order, and the result comes back in the caller's dtype."""
    native = np.dtype(dtype).newbyteorder("=")
    top = 65535 if native.kind == "u" else 1
    img = np.round(add_streaks(scene(24, 32)) * top).astype(native) if top > 1 else add_streaks(scene(24, 32))
    swapped = img.astype(dtype)
    out = shipped.remove(swapped)
    assert out.dtype == swapped.dtype and np.array_equal(out, shipped.remove(img.astype(native)))


def test_a_large_photo_is_derained_at_the_working_size_and_keeps_its_detail() -> None:
    """work_size (issue 28 item 5): the network sees the photo at the working size, and only the
    change it made there reaches the full-resolution photo, so a network that changes nothing
    leaves the photo exactly as it is, and one that adds a constant adds it everywhere."""
    seen: list[tuple[int, ...]] = []

    def brighter(batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape[2:]))
        return (batch + 0.1).clamp(0, 1)

    photo = torch.from_numpy(scene(300, 420).transpose(2, 0, 1).copy()) * 0.8
    out = Derainer(brighter, tile=0, work_size=150).restore(photo)
    assert seen == [(150, 210)]
    torch.testing.assert_close(out, (photo + 0.1).clamp(0, 1), atol=1e-5, rtol=0)
    unchanged = Derainer(lambda batch: batch, tile=0, work_size=150).restore(photo)
    torch.testing.assert_close(unchanged, photo, atol=1e-6, rtol=0)
    seen.clear()
    Derainer(brighter, tile=0, work_size=300).restore(photo)  # not larger than the working size: as it is
    assert seen == [(300, 420)]


def test_bad_policy_arguments() -> None:
    model = derain.create_model("rain_unet_s")
    with pytest.raises(DerainError, match="work size must be"):
        Derainer(model, work_size=-1)
    with pytest.raises(DerainError, match="twice the overlap"):
        Derainer(model, tile=40, overlap=32)
    with pytest.raises(DerainError, match="tile must be"):
        Derainer(model, tile=-3)


def test_overlap_is_checked_against_the_automatic_tile() -> None:
    with pytest.raises(DerainError, match="twice the overlap"):
        Derainer(derain.create_model("rain_unet_s"), tile="auto", overlap=400)


def test_unknown_device_is_a_clear_error() -> None:
    with pytest.raises(DerainError, match="device"):
        Derainer(derain.create_model("rain_unet_s"), device="gpu")
    with pytest.raises(DerainError, match="device"):
        Derainer(derain.create_model("rain_unet_s"), device="cuda:7")


def reference_remove(d: Derainer, image: np.ndarray, amount: float) -> np.ndarray:
    """The engine before issue 31, written plainly: the photo in float whole, tiles blended by
    dividing by the summed weights, the change and the veil upsampled whole, rounded at the end."""
    arr = np.asarray(image)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)
    x = arr.astype(np.float32) / scale
    x = x[..., None] if x.ndim == 2 else x
    color = x[..., :3] if x.shape[2] >= 3 else np.repeat(x, 3, axis=2)
    rgb = torch.from_numpy(np.ascontiguousarray(color.transpose(2, 0, 1)))
    _, h, w = rgb.shape

    def tiled(img: torch.Tensor) -> torch.Tensor:
        _, ih, iw = img.shape
        tile = d.tile
        if tile == 0 or (ih <= tile and iw <= tile):
            return d.forward(img[None])[0]
        out, weight = torch.zeros_like(img), torch.zeros(1, ih, iw)
        for y in _starts(ih, tile, d.overlap, d.align):
            for x0 in _starts(iw, tile, d.overlap, d.align):
                th, tw = min(tile, ih - y), min(tile, iw - x0)
                wt = _ramp(th, d.overlap, y > 0, y + th < ih)[:, None] * _ramp(tw, d.overlap, x0 > 0, x0 + tw < iw)
                out[:, y:y + th, x0:x0 + tw] += d.forward(img[None, :, y:y + th, x0:x0 + tw])[0] * wt
                weight[:, y:y + th, x0:x0 + tw] += wt
        return out / weight

    if d.work_size and min(h, w) > d.work_size:
        factor = d.work_size / min(h, w)
        small = F.interpolate(rgb[None], size=(round(h * factor), round(w * factor)), mode="bilinear",
                              antialias=True)
        change = tiled(small[0])[None] - small
        out = (rgb + F.interpolate(change, size=(h, w), mode="bilinear")[0]).clamp(0, 1)
    else:
        out = tiled(rgb)
    if amount:
        veil_map = d.veil(F.interpolate(rgb[None], size=(SIZE, SIZE), mode="bilinear", antialias=True))
        full = F.interpolate(veil_map, size=(h, w), mode="bilinear")[0]
        out = unveil(out, full[:1], full[1:], amount).clamp(0, 1)
    res = out.numpy().transpose(1, 2, 0)
    if x.shape[2] == 1:
        res = res.mean(axis=2, keepdims=True)
    elif x.shape[2] == 4:
        res = np.concatenate([res, x[..., 3:]], axis=2)
    res = res.reshape(arr.shape)
    return np.round(res * scale).astype(arr.dtype) if scale > 1 else res.astype(arr.dtype)


@pytest.fixture(scope="module")
def joined() -> torch.nn.Module:
    """A random streaks-and-vapour model that changes the photo: perturbed streak branch (it starts
    as the identity), a visible veil (T about 0.6)."""
    torch.manual_seed(0)
    model = create_model("streaks_vapour_s").eval()
    with torch.no_grad():
        for p in model.streaks.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    torch.nn.init.normal_(model.vapour.transmission.weight, std=0.05)
    torch.nn.init.constant_(model.vapour.transmission.bias, 0.0)
    return model


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("work_size", [0, 64])
@pytest.mark.parametrize("tile", [0, 48])
@pytest.mark.parametrize("amount", [0.0, 1.0])
def test_engine_matches_the_plain_reference(joined: torch.nn.Module, dtype: type, work_size: int, tile: int,
                                            amount: float) -> None:
    """Issue 31: the engine reads the photo in bands and tiles, upsamples in bands and rounds once;
    its output stays within 1/255 of the plain engine's for every input kind and path (in practice a
    rounding flip here and there)."""
    rgb = add_streaks(scene(120, 157, seed=2), seed=2)
    top = {np.uint8: 255, np.uint16: 65535}.get(dtype, 1)
    image = np.round(rgb * top).astype(dtype) if top > 1 else rgb.astype(dtype)
    d = Derainer(joined, tile=tile, overlap=16, work_size=work_size)
    out, ref = d.remove(image, vapour=amount), reference_remove(d, image, amount)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    assert np.abs(out.astype(np.float64) - ref).max() <= top / 255
    assert np.abs(ref.astype(np.float64) / top - rgb).mean() > 0.005  # the model really changes the photo


@pytest.mark.parametrize("channels", [None, 1, 4])
def test_gray_and_alpha_match_the_plain_reference(joined: torch.nn.Module, channels: int | None) -> None:
    rgb = add_streaks(scene(90, 130, seed=3), seed=3)
    image = {None: rgb.mean(axis=2), 1: rgb.mean(axis=2, keepdims=True),
             4: np.concatenate([rgb, np.linspace(0, 1, 90 * 130).reshape(90, 130, 1)], axis=2)}[channels]
    image = np.round(image * 255).astype(np.uint8)
    d = Derainer(joined, tile=48, overlap=16, work_size=64)
    out = d.remove(image, vapour=1.0)
    assert np.abs(out.astype(int) - reference_remove(d, image, 1.0)).max() <= 1
    if channels == 4:
        assert np.array_equal(out[..., 3], image[..., 3])


def test_the_engine_leaves_the_callers_photo_alone() -> None:
    """Float32 photos are read in place (no copy): a network that hands its input back must not
    let the engine write into the caller's array."""
    photo = scene(50, 60)
    before = photo.copy()
    out = Derainer(lambda batch: batch, tile=0, work_size=0).remove(photo)
    assert np.array_equal(photo, before) and np.array_equal(out, photo)


class Counting(torch.nn.Module):
    """The identity, counting the pixels it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tiles.append(tuple(x.shape[-2:]))
        return x


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_automatic_tiles_see_at_most_115_percent_of_a_12mp_photo(backend: str) -> None:
    """Issue 31: 768-px tiles overlapping by 96 px made the network see 1.47x a 12-MP photo's
    pixels; tiles sized by the memory budget see at most 1.15x, none larger than FAST_TILE_PIXELS."""
    counting = Counting()
    d = Derainer(counting, work_size=0)
    if backend == "onnx":  # the runner's budget, with a callable in its place
        d.forward, d.tile_mib_per_mp = counting, 150
    photo = np.zeros((3000, 4000, 3), np.uint8)
    assert np.array_equal(d.remove(photo), photo)
    seen = sum(h * w for h, w in counting.tiles)
    assert len(counting.tiles) > 1 and seen <= 1.15 * photo.shape[0] * photo.shape[1]
    assert max(h * w for h, w in counting.tiles) <= FAST_TILE_PIXELS
