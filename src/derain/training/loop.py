"""The training engine shared by every stage: resume, schedule, DDP, logs, checkpoints.

A `Stage` supplies the trainable module (whose forward returns the loss and its parts), the batch
of each step, a validation and an export; `train` runs it. The batch of a step is a pure function
of (seed, step), and the checkpoint holds the weights, the optimizer and the step, so
`--resume` continues exactly where a killed run last checkpointed.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from derain.archs.complexity import count_params
from derain.errors import DerainError
from derain.training.checkpoint import save_checkpoint
from derain.training.config import TrainConfig, to_dict
from derain.training.distributed import DistContext, barrier, mean_over_ranks
from derain.training.logs import RunLog
from derain.training.rundir import RunDir
from derain.training.snapshot import FROZEN
from derain.weights import MODEL_FILE, save_model


class Stage(ABC):
    """One training stage: data, trainable module, validation and export."""

    name: str
    module: nn.Module  # forward(*batch) -> (loss, {part: tensor}); `module.net` is the trained network
    uses_all_parameters = True  # False when some trainable weights get no gradient (DDP must look for them)

    def __init__(self, name: str, cfg: TrainConfig) -> None:
        self.name, self.cfg = name, cfg

    @abstractmethod
    def batch(self, step: int, rank: int, world: int) -> list[torch.Tensor]:
        """This rank's share of the global batch of `step`."""

    @abstractmethod
    def validate(self, device: torch.device) -> dict[str, float]:
        """Held-out metrics of the current weights (runs on rank 0, in eval mode, without grad)."""

    def provenance(self) -> dict[str, Any]:
        """Which images were trained on / held out; written to data.json in the run directory."""
        return {}

    def model_meta(self) -> dict[str, Any]:
        """What the exported model file tells about its training beyond stage, budget and metrics."""
        return {}

    def export(self, run: RunDir, summary: dict[str, Any]) -> None:
        """Write the trained network (the averaged weights, if any) as the run's model file.

        The next stages read it from there (`weights.load_trained`); derainers also ship it.
        """
        meta = {"stage": self.name, "profile": summary["profile"], **self.model_meta(), "seed": self.cfg.seed,
                "steps": self.cfg.steps, "metrics": summary["metrics"]}
        save_model(run.path / MODEL_FILE, self.module.net, self.cfg.arch, meta)


def learning_rate(cfg: TrainConfig, step: int, restart: int | None = None) -> float:
    """Linear warm-up, then cosine decay from lr to lr * lr_min_ratio at the last step.

    `restart`: the step at which the optimizer started afresh mid-run (a run continued from a
    snapshot); the rate ramps up again over `warmup` steps from there.
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    rate = cfg.lr * (cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
    if restart is not None and step < restart + cfg.warmup:
        rate *= (step - restart + 1) / cfg.warmup
    return rate


def _to_device(tensors: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    return [t.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last) if t.ndim == 4
            else t.to(device) for t in tensors]


class EMA:
    """Exponential moving average of a network's weights: what is validated and exported.

    The average of the last few thousand steps is a smoother, usually better, model than the
    weights of the last step, at the cost of one copy of the network.
    """

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.weights = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self._floats = [k for k, v in self.weights.items() if v.is_floating_point()]

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        """Average in the weights after `step`; the decay ramps up, so early weights fade fast."""
        decay = min(self.decay, (1 + step) / (10 + step))
        current = net.state_dict()
        torch._foreach_lerp_([self.weights[k] for k in self._floats], [current[k] for k in self._floats], 1.0 - decay)
        for k in self.weights.keys() - set(self._floats):  # integer buffers (counters) are copied
            self.weights[k].copy_(current[k])

    @contextmanager
    def applied(self, net: nn.Module) -> Iterator[None]:
        """Run the block with the averaged weights in `net`, then put the trained ones back."""
        trained = {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(self.weights)
        try:
            yield
        finally:
            net.load_state_dict(trained)


def _load_trained(module: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load a snapshot's weights: every trained tensor must be there, only frozen parts may be missing."""
    missing, unexpected = module.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.startswith(FROZEN)]
    if missing or unexpected:
        raise DerainError(f"snapshot does not fit this stage's network (missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]})")


def _validate(stage: Stage, ctx: DistContext, step: int, log: RunLog | None,
              ema: EMA | None = None) -> dict[str, float]:
    """Rank 0 scores the held-out set (with the averaged weights, if any) and redraws the curves."""
    metrics: dict[str, float] = {}
    if ctx.main:
        stage.module.eval()
        with torch.no_grad(), (ema.applied(stage.module.net) if ema else nullcontext()):
            metrics = stage.validate(ctx.device)
        stage.module.train()
        if log is not None:
            if metrics:
                log.append({"kind": "val", "step": step, **metrics})
            log.export()
    barrier(ctx)
    return metrics


def train(stage: Stage, run: RunDir, ctx: DistContext, resume_state: dict[str, Any] | None = None,
          stop_at: int | None = None, progress: bool = True, profile: str = "") -> dict[str, Any]:
    """Train `stage` into `run`, from scratch or from `resume_state`; returns the run summary."""
    cfg = stage.cfg
    torch.set_flush_denormal(True)  # denormal activations early in training slow CPU convolutions 50x
    module = stage.module.to(ctx.device, memory_format=torch.channels_last).train()
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    start, seconds, restart = 0, 0.0, None
    ema = EMA(module.net, cfg.ema) if cfg.ema > 0 else None
    if resume_state is not None:
        start, seconds = resume_state["step"], resume_state["seconds"]
        if "optimizer" in resume_state:  # a checkpoint: exact resume
            module.load_state_dict(resume_state["model"])
            optimizer.load_state_dict(resume_state["optimizer"])
            restart = resume_state.get("restart")
        else:  # a snapshot: the frozen parts were rebuilt with the stage, Adam starts afresh
            _load_trained(module, resume_state["model"])
            restart = start
        torch.set_rng_state(resume_state["torch_rng"])
        if ema is not None:
            ema.weights = {k: v.to(ctx.device) for k, v in resume_state["ema"].items()}
    log = RunLog(run.path) if ctx.main else None
    if log is not None:
        log.truncate(start)
    wrapped = module
    if ctx.world > 1:
        wrapped = DistributedDataParallel(module, find_unused_parameters=not stage.uses_all_parameters)
    end = cfg.steps if stop_at is None else max(start, min(cfg.steps, stop_at))

    began = time.perf_counter()

    def checkpoint(step: int) -> None:
        if ctx.main:
            save_checkpoint(run.checkpoint, {
                "stage": stage.name, "arch": cfg.arch, "step": step, "steps": cfg.steps, "done": step >= cfg.steps,
                "config": to_dict(cfg), "model": module.state_dict(), "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(), "seconds": seconds + time.perf_counter() - began,
                "restart": restart, **({"ema": ema.weights} if ema else {})})
            log.export(plot=False)
        barrier(ctx)

    bar = tqdm(total=cfg.steps, initial=start, desc=stage.name, unit="step", disable=not (progress and ctx.main),
               dynamic_ncols=True)
    window_start, window_steps, window_parts = time.perf_counter(), 0, {}
    for step in range(start, end):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step, restart)
        batch = _to_device(stage.batch(step, ctx.rank, ctx.world), ctx.device)
        loss, parts = wrapped(*batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        if ema is not None:
            ema.update(module.net, step)
        for key, value in {"loss": loss, **{f"loss_{k}": v for k, v in parts.items()}}.items():
            window_parts[key] = window_parts.get(key, 0.0) + float(value.detach())
        done, window_steps = step + 1, window_steps + 1
        if done % cfg.log_every == 0 or done == end:
            means = mean_over_ranks(ctx, {k: v / window_steps for k, v in window_parts.items()})
            rate = window_steps * cfg.batch_size / max(time.perf_counter() - window_start, 1e-9)
            if log is not None:
                log.append({"kind": "train", "step": done, **means, "lr": learning_rate(cfg, step, restart),
                            "img_per_s": rate})
            bar.set_postfix(loss=f"{means['loss']:.4f}", img_s=f"{rate:.1f}")
            window_start, window_steps, window_parts = time.perf_counter(), 0, {}
        bar.update(1)
        if cfg.val_every and done % cfg.val_every == 0 and done < cfg.steps:
            _validate(stage, ctx, done, log, ema)
        if done % cfg.checkpoint_every == 0 or done == end:
            checkpoint(done)
    bar.close()
    if end < cfg.steps:
        return {"stage": stage.name, "step": end, "steps": cfg.steps, "done": False, "run_dir": str(run.path)}
    metrics = _validate(stage, ctx, cfg.steps, log, ema)
    summary = {"stage": stage.name, "profile": profile, "arch": cfg.arch, "step": cfg.steps, "steps": cfg.steps,
               "done": True, "seconds": round(seconds + time.perf_counter() - began, 2), "metrics": metrics,
               "run_dir": str(run.path), "parameters": count_params(module.net)}
    if ctx.main:
        with ema.applied(stage.module.net) if ema else nullcontext():
            stage.export(run, summary)
        run.write_json("summary.json", summary)
    barrier(ctx)
    return summary
