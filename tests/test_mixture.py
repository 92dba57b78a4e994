"""On-the-fly training pairs: streak layers, the rain mixture, the camera, the mixed sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import scene
from derain.data import MixedSampler, View, compose, open_dataset, random_crop
from derain.errors import DerainError
from derain.synth.mixture import MixtureConfig, RainMixture, camera, render_rain
from derain.synth.params import RainParams, StreakLayer
from derain.synth.streaks import StreakBank


@pytest.fixture
def bank(tmp_path: Path) -> StreakBank:
    rng = np.random.default_rng(0)
    for i in range(2):
        layer = np.zeros((40, 50), np.uint8)
        for _ in range(40):
            y, x = rng.integers(0, 30), rng.integers(0, 50)
            layer[y:y + 10, x] = 200
        Image.fromarray(layer).save(tmp_path / f"{i}.png")
    return StreakBank(tmp_path)


def test_streak_layers_are_seeded_bounded_and_vary(bank: StreakBank) -> None:
    a = bank.layer((64, 48), np.random.default_rng(1))
    assert a.shape == (64, 48) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1 and a.max() > 0.1
    np.testing.assert_array_equal(a, bank.layer((64, 48), np.random.default_rng(1)))
    assert not np.array_equal(a, bank.layer((64, 48), np.random.default_rng(2)))


def test_empty_streak_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DerainError, match="no streak images"):
        StreakBank(tmp_path)


def test_camera_puts_the_same_noise_and_jpeg_on_both_sides() -> None:
    clean = scene(32, 32)
    params = RainParams(layers=(StreakLayer(0.01, 0.0, 10.0, 1.0, 0.5),), noise_sigma=0.05, jpeg_quality=80)
    rainy, target = camera([clean, clean.copy()], params, np.random.default_rng(0))
    np.testing.assert_array_equal(rainy, target)  # no rain: nothing to remove, nothing to denoise
    assert np.abs(target - clean).mean() > 0.01


def test_mixture_pairs_add_rain_or_are_identities(bank: StreakBank) -> None:
    mixture = RainMixture(MixtureConfig(sources={"light": 1.0, "heavy": 1.0, "garg06": 1.0}, identity=0.3), bank)
    clean = scene(48, 48)
    kinds = {"identity": 0, "rain": 0}
    for seed in range(40):
        rainy, target = mixture.pair(clean, np.random.default_rng(seed))
        assert rainy.shape == target.shape == clean.shape and rainy.dtype == np.float32
        kinds["identity" if np.array_equal(rainy, target) else "rain"] += 1
    assert 4 <= kinds["identity"] <= 22 and kinds["rain"] >= 18
    for source in ("light", "heavy", "garg06"):  # a forced source always rains
        rainy, target = mixture.pair(clean, np.random.default_rng(0), source)
        assert np.abs(rainy - target).mean() > 1e-3, source


def test_kept_veil_targets_differ_from_the_photo_by_the_veil_only() -> None:
    """keep_veil (issue 28): the same rainy image, and a target that is the photo under the same
    veil, so what is left to remove is the streaks; rain without a veil keeps the photo as target."""
    clean = scene(48, 48)
    for source, veiled in (("light", False), ("heavy", True)):
        plain, kept = (RainMixture(MixtureConfig(sources={source: 1.0}, identity=0.0, keep_veil=keep))
                       .pair(clean, np.random.default_rng(3), source) for keep in (False, True))
        np.testing.assert_array_equal(plain[0], kept[0])
        if not veiled:
            np.testing.assert_array_equal(plain[1], kept[1])
            continue
        assert np.abs(kept[1] - plain[1]).mean() > 0.01  # the veil is in the target
        assert (kept[0] >= kept[1] - 1e-6).all()  # streaks only add light: rainy = target + streaks
        assert np.abs(kept[0] - kept[1]).mean() < np.abs(plain[0] - plain[1]).mean()


def test_streak_source_needs_a_bank() -> None:
    with pytest.raises(DerainError, match="streak bank"):
        RainMixture(MixtureConfig(sources={"garg06": 1.0}))


def _images(tmp_path: Path, count: int) -> View:
    folder = tmp_path / "clean"
    folder.mkdir()
    for i in range(count):
        Image.fromarray((scene(40, 40, seed=i) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return View(open_dataset(str(folder)), cache_bytes=0)


def test_mixed_sampler_is_a_pure_function_of_seed_and_step(tmp_path: Path) -> None:
    view = _images(tmp_path, 4)
    rain = compose(random_crop(32), render_rain(RainMixture(MixtureConfig(sources={"medium": 1.0}))))
    sampler = MixedSampler([(view, rain, 1.0)], batch_size=4, seed=3)
    first = sampler.batch(5)[0]
    again = MixedSampler([(view, rain, 1.0)], batch_size=4, seed=3).batch(5)[0]
    for a, b in zip(first, again):
        assert a.shape == (4, 3, 32, 32)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    halves = [sampler.batch(5, rank, 2)[0] for rank in range(2)]  # two ranks share the same global batch
    np.testing.assert_array_equal(halves[0][0][0].numpy(), first[0][0].numpy())
    np.testing.assert_array_equal(halves[1][0][0].numpy(), first[0][1].numpy())


def test_mixed_sampler_skips_an_unreadable_image_with_a_warning(tmp_path: Path) -> None:
    view = _images(tmp_path, 3)
    (tmp_path / "clean/1.png").write_bytes(b"not a png")
    sampler = MixedSampler([(view, random_crop(16), 1.0)], batch_size=8, seed=0)
    with pytest.warns(UserWarning, match="skipping a training image"):
        for step in range(4):
            assert sampler.batch(step)[0][0].shape == (8, 3, 16, 16)
    assert sampler.skipped == {(0, 1)}
