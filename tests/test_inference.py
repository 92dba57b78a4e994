"""The inference engine: dtype/shape preservation, alpha, and seamless tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import derain
from derain.errors import DerainError
from derain.inference import DEFAULT_OVERLAP, Derainer, _starts

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
