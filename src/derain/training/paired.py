"""Stages 4 and 5: fine-tuning the distilled student, and the supervised-from-scratch ablation.

Both train on the same seeded fraction of the paired synthetic pool, with the same loss and
budget; they differ only in the starting weights (the distilled student vs random) and in the
optional regulariser that keeps fine-tuned features near the distilled ones ("anchor"), so the
real-data priors learnt by distillation are not forgotten. A supervised run may also continue
from a finished supervised model (`init`), to refine it on other pairs or targets.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from derain.archs import arch_info, create_model
from derain.data import (Concat, MixedSampler, PatchSampler, Transform, View, compose, fixed_patches, fraction_subset,
                         open_view, random_crop, random_flip, stack)
from derain.errors import DerainError
from derain.synth.mixture import FixedPairs, open_mixture, render_rain
from derain.training.config import PairedConfig, to_dict
from derain.training.loop import Stage
from derain.training.losses import Restoration, batch_psnr
from derain.weights import load_trained


class PairedStage(Stage):
    """`finetune` (from a distill checkpoint) or `supervised` (from scratch) on a fraction of pairs."""

    def __init__(self, name: str, cfg: PairedConfig, root: str | None = None) -> None:
        super().__init__(name, cfg)
        if name == "finetune" and cfg.init is None:
            raise DerainError("finetune starts from the distilled student: set init (--init RUN_DIR_OR_CHECKPOINT)")
        if name == "supervised" and cfg.distill_weight > 0:
            raise DerainError("supervised has no distilled student to anchor to: distill_weight must be 0")
        features = arch_info(cfg.arch).features
        net = create_model(cfg.arch)
        anchor = None
        self.init_from = None
        if cfg.init is not None:
            start, _, path = load_trained(cfg.init, "distill" if name == "finetune" else "supervised", cfg.arch)
            weights = start.state_dict()
            if cfg.init_parts == "encoder":  # transfer the representations, not the distilled output
                weights = {k: v for k, v in weights.items() if k.startswith("encoder.")}
            net.load_state_dict(weights, strict=cfg.init_parts == "all")
            self.init_from = str(path)
            if cfg.distill_weight > 0:
                anchor = copy.deepcopy(net)
        if cfg.distill_weight > 0 and not features:
            raise DerainError(f"distill_weight needs an architecture with features; {cfg.arch!r} has none")
        self.module = Restoration(net, cfg.ssim_weight, features, anchor, cfg.distill_weight)

        crops = compose(random_crop(cfg.patch), random_flip())
        components: list[tuple[Concat, Transform, float]] = []
        self.pool_size, self.train_names, self.val_names, self.val = 0, [], [], []
        pool = None
        if cfg.pairs:
            pool = Concat({spec: self._pairs(spec, cfg, root) for spec in cfg.pairs})
            names = pool.names
            drawn = fraction_subset(names, cfg.fraction, cfg.seed)
            chosen = drawn[: cfg.max_images or None]
            rest = sorted(set(range(len(pool))) - set(drawn))
            held = sorted(np.random.default_rng(cfg.seed).permutation(rest)[: cfg.val_images].tolist()) if rest else []
            self.pool_size, self.train_names = len(pool), [names[i] for i in chosen]
            if cfg.synth is None:  # without synthesis, the held-out pairs are the validation set
                self.val_names = [names[i] for i in held]
                self.val = stack(fixed_patches(pool.subset(held), random_crop(2 * cfg.patch), cfg.seed)) if held else []
            share = 1.0 - cfg.synth.share if cfg.synth is not None else 1.0
            components.append((pool.subset(chosen), crops, share))
        self.mixture = None
        if cfg.synth is not None:
            self.mixture = open_mixture(cfg.synth, root)
            backgrounds = Concat({spec: open_view(spec, root, cache_bytes=cfg.cache_mb << 20)
                                  for spec in cfg.synth.clean})
            names = backgrounds.names
            if cfg.fixed_pairs:  # instead of the paired sets' fraction and the photos' fresh rain
                components = self._fixed(cfg, backgrounds, pool, crops)
            else:
                chosen = fraction_subset(names, cfg.fraction, cfg.seed)[: cfg.max_images or None]
                self.background_names = [names[i] for i in chosen]
                components.append((backgrounds.subset(chosen), compose(crops, render_rain(self.mixture)),
                                   cfg.synth.share))
            self.val, self.val_names = self._selection(cfg, root)
        if len(components) == 1 and self.mixture is None:  # paired sets only: epochs, as before synthesis existed
            self.sampler: PatchSampler | MixedSampler = PatchSampler(components[0][0], cfg.batch_size, crops, cfg.seed)
        else:
            self.sampler = MixedSampler(components, cfg.batch_size, cfg.seed)

    def _fixed(self, cfg: PairedConfig, backgrounds: Concat, pool: Concat | None,
               crops: Transform) -> list[tuple[Any, Transform, float]]:
        """The few-fixed-pairs regime: `fixed_pairs` pairs drawn once by `fixed_seed` (the same for
        every seed and arm), the paired sets' share of them from `pool`, the rest rendered on crops
        of the rain-free photos; every pair as likely as any other."""
        from_pool = round(cfg.fixed_pairs * (1 - cfg.synth.share)) if pool is not None else 0
        rendered = FixedPairs(self.mixture, backgrounds, backgrounds.names, cfg.fixed_pairs - from_pool,
                              2 * cfg.patch, cfg.fixed_seed)
        self.background_names, self.train_names = rendered.names, []
        components: list[tuple[Any, Transform, float]] = [(rendered, crops, float(len(rendered)))]
        if from_pool:
            drawn = sorted(np.random.default_rng([cfg.fixed_seed, 30]).choice(len(pool), from_pool, replace=False))
            components.append((pool.subset(drawn), crops, float(from_pool)))
            self.train_names = [pool.names[i] for i in drawn]
        return components

    def _selection(self, cfg: PairedConfig, root: str | None) -> tuple[list[torch.Tensor], list[str]]:
        """Validation: rain-free held-out photos, each rained on by every source in turn, and as they are.

        The first `val_images` rainy crops are scored for deraining, the same crops without rain for
        fidelity (the output should equal the input). Drawn from the run's seed: identical at every
        validation of a run and of a resumed run, different between seeds (the seed ablation compares
        runs on the fixed selection set of experiments/selection.py instead).
        """
        view = open_view(cfg.synth.val, root)
        crops = fixed_patches(view, random_crop(2 * cfg.patch), cfg.seed, limit=cfg.val_images)
        sources = self.mixture.names
        pairs = [list(self.mixture.pair(c[0], np.random.default_rng([cfg.seed, 1 << 21, i]), sources[i % len(sources)]))
                 for i, c in enumerate(crops)]
        return stack(pairs) + stack([[c[0]] for c in crops]), view.names[: len(crops)]

    @staticmethod
    def _pairs(spec: str, cfg: PairedConfig, root: str | None) -> View:
        view = open_view(spec, root, cache_bytes=cfg.cache_mb << 20)
        if view.roles != ("rainy", "clean"):
            raise DerainError(f"pairs entry {spec!r} is not a paired set (need rainy + clean images)")
        return view

    def batch(self, step: int, rank: int, world: int) -> list[torch.Tensor]:
        return self.sampler.batch(step, rank, world)[0]

    def validate(self, device: torch.device) -> dict[str, float]:
        if not self.val:
            return {}
        rainy, clean, *rain_free = (t.to(device) for t in self.val)
        scores = {"val_psnr": batch_psnr(self.module.net(rainy), clean), "val_psnr_input": batch_psnr(rainy, clean)}
        if rain_free:  # fidelity: how much a rain-free photo is changed
            scores["val_fidelity"] = batch_psnr(self.module.net(rain_free[0]), rain_free[0])
        return scores

    def provenance(self) -> dict[str, Any]:
        synth = {"backgrounds": self.background_names, "selection": self.cfg.synth.val} if self.mixture else None
        return {"pairs": self.cfg.pairs, "synth": synth, "pool_size": self.pool_size, "fraction": self.cfg.fraction,
                "seed": self.cfg.seed, "init": self.init_from, "init_parts": self.cfg.init_parts,
                "train": self.train_names, "val": self.val_names}

    def model_meta(self) -> dict[str, Any]:
        return {"training_data": {
                    "pairs": self.cfg.pairs, "pool_size": self.pool_size, "train_pairs": len(self.train_names),
                    "synth": to_dict(self.cfg.synth) if self.cfg.synth else None,
                    "rain_free_backgrounds": len(self.background_names) if self.mixture else 0, "names": "data.json"},
                "fraction": self.cfg.fraction, "init": self.init_from, "init_parts": self.cfg.init_parts}
