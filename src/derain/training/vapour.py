"""Stage 6: the vapour branch, trained on whole photos whose veil the renderer knows exactly.

Each training image is a rain-free photo, framed by a random window (60-100 % of each side),
scaled to a shorter side of `patch` px and rendered as `O = T (B (+) S) + (1 - T) A`: streaks `S`
from the mixture (with probability `rain`) and a veil (with probability `veil`, drawn
independently: Rain100L-like rain has none, fog comes without streaks) whose transmission is a
preset's (`veils`: its strength, its gradient towards the top) times a smooth random field (depth
is not only vertical). The branch sees `O` squeezed to its input size and is taught the veil map
(`T` averaged per grid cell, and `A`) and the image: `unveil(V, T^, A^)` against `B`, where `V` is
the photo under the same veil without streaks, what the streak branch hands it. The streak branch
is a finished model (`streaks`), frozen and joined to the trained vapour branch in the export.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from derain.archs import create_model
from derain.archs.streaks_vapour import StreaksVapourNet
from derain.archs.vapour import GRID, SIZE, upsample
from derain.data import Concat, MixedSampler, Transform, fixed_patches, fraction_subset, open_view, resize, stack
from derain.errors import DerainError
from derain.formation import MIN_TRANSMISSION, depth_gradient, unveil, veil
from derain.synth.mixture import RainMixture, camera, open_mixture
from derain.synth.preset import load_preset, sample_params
from derain.synth.render import composite
from derain.training.config import VapourConfig, to_dict
from derain.training.loop import Stage
from derain.training.losses import batch_psnr
from derain.weights import load_trained

NEUTRAL_AIRLIGHT = 0.5  # the airlight target where there is no veil (it weighs nothing there)


def smooth_field(shape: tuple[int, int], amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """A random factor in [1 - amplitude, 1 + amplitude] that varies over a third of the frame."""
    coarse = torch.from_numpy(rng.uniform(1 - amplitude, 1 + amplitude, (1, 1, 3, 3)).astype(np.float32))
    return F.interpolate(coarse, size=shape, mode="bilinear", align_corners=True)[0, 0].numpy()


def veiled_scene(cfg: VapourConfig, mixture: RainMixture) -> Transform:
    """Transform `[photo]` into `[rainy, veiled, clean, veil map]`, the images SIZE x SIZE (H, W, 3)
    and the map (GRID, GRID, 4): transmission per cell, then airlight."""
    veils = [load_preset(name) for name in cfg.veils]

    def render(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        photo = arrays[0]
        h, w = photo.shape[:2]
        wh, ww = max(1, round(h * rng.uniform(0.6, 1.0))), max(1, round(w * rng.uniform(0.6, 1.0)))
        y, x = int(rng.integers(h - wh + 1)), int(rng.integers(w - ww + 1))
        scale = cfg.patch / min(wh, ww)
        clean = resize(photo[y:y + wh, x:x + ww], max(1, round(wh * scale)), max(1, round(ww * scale)))
        chw = np.ascontiguousarray(clean.transpose(2, 0, 1), dtype=np.float32)
        shape = chw.shape[1:]
        streaky, params = chw, None
        if rng.random() < cfg.rain:
            params, rain = mixture.draw(shape, rng)
            streaky = composite(chw, rain, dataclasses.replace(params, transmission=1.0, veil_gradient=0.0))
        transmission, airlight = np.ones(shape, np.float32), NEUTRAL_AIRLIGHT
        if rng.random() < cfg.veil:
            drawn = sample_params(veils[int(rng.integers(len(veils)))], rng)
            transmission = (drawn.transmission * depth_gradient(shape[0], drawn.veil_gradient)
                            * smooth_field(shape, cfg.field_amplitude, rng))
            transmission = np.clip(transmission, MIN_TRANSMISSION, 1.0).astype(np.float32)
            airlight = drawn.airlight
        rainy, veiled = veil(streaky, transmission, airlight), veil(chw, transmission, airlight)
        images = [im.transpose(1, 2, 0) for im in (rainy, veiled, chw)]
        if params is not None:  # the camera sees the rain and the veil; the targets stay noise-free
            images[0] = camera([images[0]], params, rng)[0]
        small = [resize(np.ascontiguousarray(im, dtype=np.float32), SIZE, SIZE) for im in images]
        cells = F.adaptive_avg_pool2d(torch.from_numpy(transmission)[None, None], GRID)[0, 0].numpy()
        target = np.concatenate([cells[..., None], np.full((GRID, GRID, 3), airlight, np.float32)], axis=2)
        return [*small, target.astype(np.float32)]

    return render


class VapourLoss(nn.Module):
    """The joined network (only its vapour branch trains) and the vapour branch's objective."""

    def __init__(self, net: StreaksVapourNet, airlight_weight: float, image_weight: float) -> None:
        super().__init__()
        self.net, self.airlight_weight, self.image_weight = net, airlight_weight, image_weight
        net.streaks.requires_grad_(False)

    def forward(self, rainy: torch.Tensor, veiled: torch.Tensor, clean: torch.Tensor,
                target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pred = self.net.vapour(rainy)
        transmission = F.l1_loss(pred[:, :1], target[:, :1])
        # The airlight is seen only through the veil: weigh its error by how thick the veil is.
        thickness = 1.0 - target[:, :1].mean(dim=(1, 2, 3))
        airlight = (thickness * (pred[:, 1:] - target[:, 1:]).abs().mean(dim=(1, 2, 3))).mean()
        image = F.l1_loss(unveil(veiled, *upsample(pred, veiled.shape[-2:])), clean)
        loss = transmission + self.airlight_weight * airlight + self.image_weight * image
        return loss, {"transmission": transmission, "airlight": airlight, "image": image}

    def train(self, mode: bool = True) -> VapourLoss:
        super().train(mode)
        self.net.streaks.eval()
        return self


class VapourStage(Stage):
    """`vapour`: train `vapour_s` beside a finished streak branch; export the joined derainer."""

    def __init__(self, name: str, cfg: VapourConfig, root: str | None = None) -> None:
        super().__init__(name, cfg)
        if cfg.streaks is None:
            raise DerainError("the vapour branch joins a finished streak branch: set streaks "
                              "(--streaks RUN_DIR_OR_MODEL_FILE of a finetune or supervised run)")
        net = create_model(cfg.arch)
        if not isinstance(net, StreaksVapourNet):
            raise DerainError(f"the vapour stage trains a streaks-and-vapour network (streaks_vapour_s), "
                              f"not {cfg.arch!r}")
        streaks, _, path = load_trained(cfg.streaks, ("finetune", "supervised"))
        try:
            net.streaks.load_state_dict(streaks.state_dict())
        except RuntimeError as exc:
            raise DerainError(f"{path}: its network does not fit {cfg.arch!r}'s streak branch") from exc
        self.streaks_from, self.init_from = str(path), None
        if cfg.init is not None:  # the task-transfer hand-over: the distilled student's real-data encoder
            student, _, init_path = load_trained(cfg.init, "distill")
            net.vapour.encoder.load_state_dict(student.encoder.state_dict())
            self.init_from = str(init_path)
        self.module = VapourLoss(net, cfg.airlight_weight, cfg.image_weight)
        mixture = open_mixture(cfg.synth, root)
        photos = Concat({spec: open_view(spec, root, cache_bytes=cfg.cache_mb << 20) for spec in cfg.synth.clean})
        chosen = fraction_subset(photos.names, 1.0, cfg.seed)[: cfg.max_images or None]
        self.photo_names = [photos.names[i] for i in chosen]
        render = veiled_scene(cfg, mixture)
        self.sampler = MixedSampler([(photos.subset(chosen), render, 1.0)], cfg.batch_size, cfg.seed)
        view = open_view(cfg.synth.val, root)
        self.val = stack(fixed_patches(view, render, cfg.seed, limit=cfg.val_images))
        self.val_names = view.names[: len(self.val[0])]

    def batch(self, step: int, rank: int, world: int) -> list[torch.Tensor]:
        return self.sampler.batch(step, rank, world)[0]

    def validate(self, device: torch.device) -> dict[str, float]:
        """The veil map's error; the photos with a veil unveiled with it (beside the veiled ones: a
        photo without one would score 100 dB as it is); the rain-free photos' fidelity."""
        rainy, veiled, clean, target = (t.to(device) for t in self.val)
        vapour = self.module.net.vapour
        pred = vapour(rainy)
        unveiled = unveil(veiled, *upsample(pred, veiled.shape[-2:])).clamp(0, 1)
        kept = unveil(clean, *upsample(vapour(clean), clean.shape[-2:])).clamp(0, 1)
        scores = {"val_transmission_l1": float(F.l1_loss(pred[:, :1], target[:, :1])),
                  "val_fidelity": batch_psnr(kept, clean)}
        with_veil = target[:, 0].amin(dim=(1, 2)) < 1
        if with_veil.any():
            scores.update(val_psnr=batch_psnr(unveiled[with_veil], clean[with_veil]),
                          val_psnr_input=batch_psnr(veiled[with_veil], clean[with_veil]))
        return scores

    def provenance(self) -> dict[str, Any]:
        return {"streaks": self.streaks_from, "init": self.init_from, "train": self.photo_names,
                "val": self.val_names, "selection": self.cfg.synth.val}

    def model_meta(self) -> dict[str, Any]:
        return {"streaks": self.streaks_from, "init": self.init_from,
                "training_data": {"synth": to_dict(self.cfg.synth), "rain": self.cfg.rain, "veil": self.cfg.veil,
                                  "veils": self.cfg.veils, "rain_free_photos": len(self.photo_names),
                                  "names": "data.json"}}
