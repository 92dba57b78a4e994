"""Datasets, catalogue, splits and seeded patches, on tiny folders the tests write themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import add_streaks, scene
from derain.data import (Concat, PairedFolder, PatchSampler, ScatterConfig, SideBySide, UnpairedFolder, View, compose,
                         degrade, fixed_patches, fraction_subset, holdout_split, open_dataset, open_training_dataset,
                         random_crop, random_flip, random_jpeg, random_scaled_crop, scatter)
from derain.errors import DerainError


def save(path: Path, rgb: np.ndarray) -> np.ndarray:
    """Write an 8-bit PNG and return exactly what reading it back gives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img8 = np.round(rgb * 255).astype(np.uint8)
    Image.fromarray(img8).save(path)
    return img8.astype(np.float32) / 255


@pytest.fixture
def paired(tmp_path: Path) -> Path:
    for i in range(3):
        clean = scene(40, 48, seed=i)
        save(tmp_path / "pairs" / "clean" / f"{i}.png", clean)
        save(tmp_path / "pairs" / "rainy" / f"{i}.png", add_streaks(clean, seed=i))
    return tmp_path / "pairs"


def test_paired_folder_yields_aligned_float_pairs(paired: Path) -> None:
    data = PairedFolder(paired)
    assert len(data) == 3 and data.paired and data.names == ["0.png", "1.png", "2.png"]
    s = data[1]
    assert s.name == "1.png" and s.rainy.shape == s.clean.shape == (40, 48, 3)
    assert s.rainy.dtype == np.float32 and 0 <= s.rainy.min() and s.rainy.max() <= 1
    assert (s.rainy >= s.clean - 1e-6).all() and (s.rainy > s.clean + 0.1).any()  # streaks only brighten


def test_paired_folder_refuses_mismatched_names(paired: Path) -> None:
    (paired / "clean" / "2.png").rename(paired / "clean" / "9.png")
    with pytest.raises(DerainError, match="names differ"):
        PairedFolder(paired)


def test_side_by_side_splits_clean_left_rainy_right(tmp_path: Path) -> None:
    clean, rainy = scene(30, 40, seed=1), scene(30, 40, seed=2)[::-1]
    both = save(tmp_path / "sbs" / "a.png", np.concatenate([clean, rainy], axis=1))
    s = SideBySide(tmp_path / "sbs")[0]
    np.testing.assert_array_equal(s.clean, both[:, :40])
    np.testing.assert_array_equal(s.rainy, both[:, 40:])


def test_unpaired_folders_have_unique_names(tmp_path: Path) -> None:
    for d in ("a", "b"):
        save(tmp_path / d / "x.png", scene(16, 16))
    data = UnpairedFolder(tmp_path / "a", tmp_path / "b")
    assert data.names == ["a/x.png", "b/x.png"] and not data.paired and data[0].clean is None


def test_open_dataset_by_path_and_errors(paired: Path, tmp_path: Path) -> None:
    assert isinstance(open_dataset(paired), PairedFolder)
    assert isinstance(open_dataset(paired / "rainy"), UnpairedFolder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DerainError, match="contains no images"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DerainError, match="neither a known dataset"):
        open_dataset("no_such_set")


def test_catalogue_names_and_leakage_guard(paired: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    root.mkdir()
    paired.rename(root / "rain100l_test")
    save(root / "real_rainy" / "sirr147" / "r.png", scene(16, 16))
    monkeypatch.setenv("DERAIN_DATA", str(root))
    assert len(open_dataset("rain100l_test")) == 3 and open_dataset("rain100l_test").paired
    assert len(open_training_dataset("sirr147")) == 1
    for forbidden in ("rain100l_test", root / "rain100l_test", root / "rain100l_test" / "rainy"):
        with pytest.raises(DerainError, match="evaluation-only"):
            open_training_dataset(forbidden)
    with pytest.raises(DerainError, match="missing"):
        open_dataset("kodak24")


def test_fraction_subset_is_seeded_sized_and_order_free() -> None:
    names = [f"{i}.jpg" for i in range(687)]
    picked = fraction_subset(names, 0.1, seed=0)
    assert len(picked) == 69 and picked == fraction_subset(names, 0.1, seed=0) != fraction_subset(names, 0.1, seed=1)
    shuffled = names[::-1]
    assert sorted(shuffled[i] for i in fraction_subset(shuffled, 0.1, 0)) == sorted(names[i] for i in picked)
    assert len(fraction_subset(names, 1e-6, 0)) == 1 and len(fraction_subset(names, 1.0, 0)) == 687
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(DerainError, match=r"\(0, 1\]"):
            fraction_subset(names, bad, 0)


def test_holdout_split_is_disjoint_and_complete() -> None:
    names = [f"n{i}" for i in range(20)]
    train, held = holdout_split(names, 0.25, seed=3)
    assert len(held) == 5 and not set(train) & set(held) and sorted(train + held) == list(range(20))


def pair_view(paired: Path, **kw: int) -> View:
    return View(PairedFolder(paired), ("rainy", "clean"), **kw)


def test_sampler_is_deterministic_aligned_and_epoch_wise(paired: Path) -> None:
    view = pair_view(paired)
    sampler = PatchSampler(view, 3, compose(random_crop(16), random_flip(vertical=True)), seed=7)
    (r1, c1), i1 = sampler.batch(5)
    (r2, c2), _ = PatchSampler(view, 3, compose(random_crop(16), random_flip(vertical=True)), seed=7).batch(5)
    assert r1.shape == c1.shape == (3, 3, 16, 16) and r1.dtype.is_floating_point
    assert (r1 == r2).all() and (c1 == c2).all()
    assert (r1 >= c1 - 1e-6).all()  # the same window of both images: rain only adds
    assert sorted(i1) == [0, 1, 2]  # one batch of 3 = one epoch of 3 images
    assert not (sampler.batch(6)[0][0] == r1).all()


def test_sampler_rank_shares_rebuild_the_global_batch(paired: Path) -> None:
    sampler = PatchSampler(pair_view(paired), 4, random_crop(12), seed=1)
    (whole, _), idx = sampler.batch(2)
    (a, _), ia = sampler.batch(2, rank=0, world=2)
    (b, _), ib = sampler.batch(2, rank=1, world=2)
    assert ia + ib == idx[0::2] + idx[1::2]
    assert (whole[0::2] == a).all() and (whole[1::2] == b).all()
    with pytest.raises(DerainError, match="divisible"):
        sampler.batch(0, rank=0, world=3)


def test_cache_is_exact_and_small_images_are_padded(paired: Path) -> None:
    cached, uncached = pair_view(paired), pair_view(paired, cache_bytes=0)
    for _ in range(2):
        np.testing.assert_array_equal(cached[1][0], uncached[1][0])
    patch = random_crop(64)([cached[0][0]], np.random.default_rng(0))[0]
    assert patch.shape == (64, 64, 3)


def test_anti_shortcut_transforms_keep_range(tmp_path: Path) -> None:
    img = scene(50, 70)
    rng = np.random.default_rng(0)
    small = random_scaled_crop(20, 0.5, 0.5)([img], rng)[0]  # a 40 px window shrunk to 20 px
    assert small.shape == (20, 20, 3) and 0 <= small.min() and small.max() <= 1
    assert small.std() < img[:40, :40].std() + 0.05
    assert random_scaled_crop(20, 0.1, 0.1)([img], rng)[0].shape == (20, 20, 3)  # window capped at the image
    coded = random_jpeg(30, 30)([img], rng)[0]
    assert coded.shape == img.shape and 0.001 < np.abs(coded - img).mean() < 0.05


def test_concat_and_fixed_patches(paired: Path) -> None:
    both = Concat({"rain": View(PairedFolder(paired), ("rainy",)), "free": View(PairedFolder(paired), ("clean",))})
    assert len(both) == 6 and both.source(4) == "free" and both.names[3] == "free/0.png"
    a = fixed_patches(both, random_crop(8), seed=0)
    b = fixed_patches(both, random_crop(8), seed=0)
    assert len(a) == 6 and all((x[0] == y[0]).all() for x, y in zip(a, b))


def test_scattering_blurs_veils_and_is_seeded() -> None:
    img = scene(64, 64)
    img[::4] = 0.0  # fine stripes: what the blur must soften
    veil = ScatterConfig(blur_sigma=(1.5, 1.5), defocus_prob=0.0, transmission=(0.5, 0.5), airlight=(1.0, 1.0),
                         airlight_tint=0.0, noise=(0.0, 0.0))
    out = degrade(img, np.random.default_rng(0), veil)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert out.min() >= 0.5 - 1e-6  # D = 0.5 * blurred + 0.5 * white airlight
    np.testing.assert_allclose(out.mean(), 0.5 * img.mean() + 0.5, atol=0.01)
    assert np.abs(np.diff(out, axis=0)).mean() < 0.5 * 0.5 * np.abs(np.diff(img, axis=0)).mean()
    a, b = (degrade(img, np.random.default_rng(3), ScatterConfig()) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    untouched, target = scatter(ScatterConfig(), prob=0.0)([img], np.random.default_rng(0))
    np.testing.assert_array_equal(untouched, img)
    np.testing.assert_array_equal(target, img)
