"""Stage 3: distil both teachers into the compact student, on real photos (docs/METHOD.md section 4).

Inputs: patches of the real rainy and rain-free training pools (half each, the teachers' split),
randomly cropped and mirrored, and degraded by the scattering model with probability
`degrade_prob` (else left as they are). The student and both frozen teachers see the same input.
The loss sums, per teacher, the normalised L2 between the student's features at 1/2, 1/4, 1/8
(through 1x1 adapters) and the teacher's at the same scales, and the L1 between the student's
output and teacher B's restoration. Adapters are trained with the student and then discarded.
The teachers are keyed by their config keys (`teacher_recognition`, `teacher_reconstruction`),
which also name the loss terms and metrics (`feat_teacher_recognition`, ...).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from derain.archs import create_model, require
from derain.data import compose, random_crop, random_flip, scatter
from derain.training.config import STAGES, DistillConfig
from derain.training.losses import Adapters, batch_psnr, normalised_l2
from derain.training.pools import RealPoolsStage
from derain.weights import load_trained

RESTORER = "teacher_reconstruction"  # the teacher whose output the student's output learns (teacher B)


def load_teacher(ref: str, stage: str) -> tuple[nn.Module, str]:
    """A finished teacher's network, frozen and in eval mode, and its model file."""
    net, _, path = load_trained(ref, stage)
    return net.requires_grad_(False).eval(), str(path)


def feature_widths(net: nn.Module) -> list[int]:
    """Channels of the three feature maps (from a probe forward)."""
    with torch.no_grad():
        return [f.shape[1] for f in net.forward_features(torch.zeros(1, 3, 16, 16))[1]]


class DistillModule(nn.Module):
    """Student + adapters (trained) and the frozen teachers."""

    def __init__(self, net: nn.Module, teachers: dict[str, nn.Module], output_weight: float,
                 feature_weight: float) -> None:
        super().__init__()
        self.net = net
        self.teachers = nn.ModuleDict(teachers)
        widths = feature_widths(net)
        self.adapters = nn.ModuleDict({k: Adapters(widths, feature_widths(t)) for k, t in teachers.items()})
        self.output_weight, self.feature_weight = output_weight, feature_weight

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out, feats = self.net.forward_features(x)
        parts = {}
        for key, teacher in self.teachers.items():
            with torch.no_grad():
                target_out, target_feats = teacher.forward_features(x)
            parts[f"feat_{key}"] = self.feature_weight * normalised_l2(self.adapters[key](feats), target_feats)
            if key == RESTORER:
                parts[f"out_{key}"] = self.output_weight * F.l1_loss(out, target_out.clamp(0, 1))
        return sum(parts.values()), parts

    def train(self, mode: bool = True) -> DistillModule:
        super().train(mode)
        self.teachers.eval()
        return self


class DistillStage(RealPoolsStage):
    """The recognition and/or the reconstruction teacher -> the student."""

    def __init__(self, name: str, cfg: DistillConfig, root: str | None = None) -> None:
        super().__init__(name, cfg)
        require(cfg.arch, "derain", features=True, who=self.name)
        net = create_model(cfg.arch)
        teachers, self.teacher_paths = {}, {}
        for key, stage in STAGES[name].inputs.items():
            if getattr(cfg, key) is not None:
                teachers[key], self.teacher_paths[stage] = load_teacher(getattr(cfg, key), stage)
        self.module = DistillModule(net, teachers, cfg.output_weight, cfg.feature_weight)
        self.uses_all_parameters = RESTORER in teachers  # without teacher B nothing trains the decoder
        self.open_pools(root, compose(random_crop(cfg.patch), random_flip(), scatter(cfg.scatter, cfg.degrade_prob)),
                        compose(random_crop(2 * cfg.patch), scatter(cfg.scatter, cfg.degrade_prob)))

    def batch(self, step: int, rank: int, world: int) -> list[torch.Tensor]:
        return self.sampler.batch(step, rank, world)[0][:1]  # the (maybe scattered) input only

    def validate(self, device: torch.device) -> dict[str, float]:
        x = torch.cat([v[0] for v in self.val.values()]).to(device)
        loss, parts = self.module(x)
        metrics = {"val_loss": float(loss), **{f"val_{k}": float(v) for k, v in parts.items()}}
        if RESTORER in self.module.teachers:
            metrics[f"val_psnr_to_{RESTORER}"] = batch_psnr(self.module.net(x), self.module.teachers[RESTORER](x))
        return metrics

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "teachers": self.teacher_paths}

    def model_meta(self) -> dict[str, Any]:
        return {**super().model_meta(), "teachers": self.teacher_paths}
