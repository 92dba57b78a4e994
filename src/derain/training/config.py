"""Stage configs: YAML files validated into dataclasses (unknown or mistyped keys are errors).

Every stage has one config per profile, shipped as `derain/configs/<stage>/<profile>.yaml`
(`tiny`: seconds, for tests; `full`: the budgeted reproduction). Command-line options override
fields before validation; the resolved config is what `config.yaml` in the run directory holds,
and a `--resume` with a different resolved config is refused.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from derain.data import ScatterConfig, check_fraction
from derain.errors import DerainError
from derain.synth.mixture import MixtureConfig

PROFILES = ("tiny", "full")


@dataclass
class TrainConfig:
    """What every stage shares: the network, the optimisation budget and the bookkeeping."""

    arch: str
    steps: int
    batch_size: int
    patch: int
    lr: float
    seed: int = 0
    lr_min_ratio: float = 0.05  # cosine decay from lr to lr * lr_min_ratio
    warmup: int = 0  # linear warm-up steps
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    checkpoint_every: int = 100
    log_every: int = 10
    val_every: int = 0  # 0 = validate at the end only
    val_images: int = 16  # held-out images (or pairs) scored at validation
    cache_mb: int = 2048  # decoded training images kept in memory, per image set and process
    max_images: int = 0  # train on at most this many images per set (first by name; 0 = all): tiny runs
    ema: float = 0.0  # decay of the exponential moving average of the weights that is validated and exported; 0 = off

    def validate(self) -> None:
        """Range checks a type check cannot express; raise `DerainError`."""
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "val_images"):
            if getattr(self, name) < 1:
                raise DerainError(f"config: {name} must be >= 1, got {getattr(self, name)}")
        if self.patch < 16 or self.patch % 8:
            raise DerainError(f"config: patch must be a multiple of 8 and >= 16, got {self.patch}")
        if self.lr <= 0 or not 0 <= self.lr_min_ratio <= 1:
            raise DerainError("config: lr must be > 0 and lr_min_ratio in [0, 1]")
        if not 0 <= self.ema < 1:
            raise DerainError(f"config: ema must be in [0, 1), got {self.ema}")
        if min(self.warmup, self.val_every, self.grad_clip, self.weight_decay, self.cache_mb, self.max_images) < 0:
            raise DerainError("config: warmup, val_every, grad_clip, weight_decay, cache_mb and max_images "
                              "must be >= 0")


@dataclass
class RealPoolsConfig(TrainConfig):
    """Stages that learn from real photos (teachers, distillation) share their pools and split."""

    rainy: list[str] = field(default_factory=lambda: ["sirr147"])
    clean: list[str] = field(default_factory=lambda: ["bsds500", "kodak24", "rain800_train:clean"])
    holdout: float = 0.1  # share of every pool never trained on (same split for all real-data stages)
    split_seed: int = 0

    def validate(self) -> None:
        super().validate()
        if not self.rainy or not self.clean:
            raise DerainError("config: both the rainy and the clean pools need at least one set")
        if not 0 < self.holdout < 1:
            raise DerainError(f"config: holdout must be in (0, 1), got {self.holdout}")


@dataclass
class RecognitionConfig(RealPoolsConfig):
    """Task A: rainy vs rain-free, with the anti-shortcut augmentations of docs/METHOD.md section 2."""

    rescale: tuple[float, float] = (0.5, 1.0)  # output px per source px of the random rescale
    jpeg_quality: tuple[int, int] = (40, 95)  # both classes re-compressed at a random quality
    val_crops: int = 4  # crops per held-out image; their mean logit is the image's score
    score_udgnet43: bool = True  # also report the share of udgnet43 (eval-only) scored rainy

    def validate(self) -> None:
        super().validate()
        if self.batch_size % 2:
            raise DerainError("config: batch_size must be even (half rainy, half rain-free)")
        if not 0 < self.rescale[0] <= self.rescale[1] or not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise DerainError("config: rescale must be 0 < low <= high and jpeg_quality 1 <= low <= high <= 100")


@dataclass
class ReconstructionConfig(RealPoolsConfig):
    """Task B: restore real patches degraded by the scattering model of docs/METHOD.md section 3."""

    scatter: ScatterConfig = field(default_factory=ScatterConfig)
    ssim_weight: float = 1.0  # loss = L1 + ssim_weight * (1 - SSIM)


@dataclass
class DistillConfig(RealPoolsConfig):
    """Both teachers into the student, on real patches (scattered with probability degrade_prob)."""

    teacher_recognition: str | None = None  # run dir or checkpoint of teacher A; None = not used
    teacher_reconstruction: str | None = None  # of teacher B; None = not used
    scatter: ScatterConfig = field(default_factory=ScatterConfig)
    degrade_prob: float = 0.5
    output_weight: float = 1.0  # L1 to teacher B's restoration
    feature_weight: float = 1.0  # per teacher, summed over the three scales

    def validate(self) -> None:
        super().validate()
        if self.teacher_recognition is None and self.teacher_reconstruction is None:
            raise DerainError("config: distillation needs at least one teacher "
                              "(teacher_recognition / teacher_reconstruction)")
        if not 0 <= self.degrade_prob <= 1:
            raise DerainError(f"config: degrade_prob must be in [0, 1], got {self.degrade_prob}")
        if min(self.output_weight, self.feature_weight) < 0:
            raise DerainError("config: output_weight and feature_weight must be >= 0")


@dataclass
class PairedConfig(TrainConfig):
    """Fine-tuning and its ablation: a seeded fraction of the paired synthetic pool."""

    pairs: list[str] = field(default_factory=lambda: ["rain800_train"])
    synth: MixtureConfig | None = None  # pairs rendered on the fly on rain-free photos (None: paired sets only)
    fraction: float = 0.1  # of the paired sets and of the rain-free photos
    init: str | None = None  # distill run dir or model file (finetune), a supervised one to refine; None = from scratch
    init_parts: str = "all"  # "all" of the distilled student, or its "encoder" only (fresh decoder)
    ssim_weight: float = 1.0  # loss = L1 + ssim_weight * (1 - SSIM)
    distill_weight: float = 0.0  # pull the features toward the initial (distilled) student's
    # The few-fixed-pairs regime (issue 29): this many pairs, rendered once (the paired sets' share of
    # them drawn from `pairs`), the same for every seed and arm (`fixed_seed`; `fraction` does not
    # apply); 0: rain rendered afresh at every step on `fraction` of the photos.
    fixed_pairs: int = 0
    fixed_seed: int = 0

    def validate(self) -> None:
        super().validate()
        check_fraction(self.fraction)
        if self.fixed_pairs < 0 or (self.fixed_pairs and self.synth is None):
            raise DerainError("config: fixed_pairs must be >= 0, and it needs synth (the pairs are rendered)")
        if self.init_parts not in ("all", "encoder"):
            raise DerainError(f"config: init_parts must be 'all' or 'encoder', got {self.init_parts!r}")
        if self.synth is not None:
            self.synth.validate()
        if not self.pairs and (self.synth is None or self.synth.share < 1):
            raise DerainError("config: pairs needs at least one paired set (or synth with share 1)")
        if min(self.ssim_weight, self.distill_weight) < 0:
            raise DerainError("config: ssim_weight and distill_weight must be >= 0")


@dataclass
class VapourConfig(TrainConfig):
    """The vapour branch (issue 28): veil maps of whole photos, rain and veil drawn independently.

    `patch` is the shorter side (px) each photo is rendered at before it is squeezed to the
    branch's input; `synth` gives the rain-free pools, the streak sources and the validation set
    (its `identity`, `share` and `keep_veil` do not apply: `rain` and `veil` say what is drawn).
    """

    streaks: str | None = None  # the finished streak branch (finetune or supervised run / model file) it joins
    synth: MixtureConfig = field(default_factory=MixtureConfig)
    init: str | None = None  # a distill run: the encoder starts from the distilled student's (task transfer)
    rain: float = 0.7  # share of photos with streaks
    veil: float = 0.7  # share of photos with a veil, drawn independently of the streaks
    veils: list[str] = field(default_factory=lambda: ["medium", "heavy", "real"])  # presets whose veils are drawn
    field_amplitude: float = 0.15  # a smooth random factor on T in [1 - a, 1 + a]: depth is not only vertical
    airlight_weight: float = 1.0  # loss = L1(T) + airlight_weight * veil-weighted L1(A) + image_weight * L1(image)
    image_weight: float = 1.0

    def validate(self) -> None:
        super().validate()
        self.synth.validate()
        if not 0 <= self.rain <= 1 or not 0 <= self.veil <= 1 or not 0 <= self.field_amplitude < 1:
            raise DerainError("config: rain and veil must be in [0, 1] and field_amplitude in [0, 1)")
        if not self.veils:
            raise DerainError("config: veils needs at least one preset")
        if min(self.airlight_weight, self.image_weight) < 0:
            raise DerainError("config: airlight_weight and image_weight must be >= 0")


@dataclass(frozen=True)
class StageSpec:
    """One training stage, as the CLI, the runner and the chain see it: the one place to add a stage.

    `stage` names the class that builds it ("module:Class"), imported only when a run starts so
    that `derain --help` stays fast. `inputs` maps a config key to the stage whose model file it
    reads (the chain wires them, the CLI offers them as options); `options` are the other config
    keys the CLI offers, with their type and help.
    """

    config: type[TrainConfig]
    stage: str
    help: str
    inputs: dict[str, str] = field(default_factory=dict)
    options: dict[str, tuple[type, str]] = field(default_factory=dict)


_FRACTION = (float, "Share of the paired pool (and of the rain-free photos) to train on, in (0, 1].")

STAGES: dict[str, StageSpec] = {
    "teacher-recognition": StageSpec(
        RecognitionConfig, "derain.training.teachers:RecognitionStage",
        "Teacher A: classify real rainy vs real rain-free crops."),
    "teacher-reconstruction": StageSpec(
        ReconstructionConfig, "derain.training.teachers:ReconstructionStage",
        "Teacher B: restore real images degraded by rain scattering (blur + veil + noise)."),
    "distill": StageSpec(
        DistillConfig, "derain.training.distill:DistillStage",
        "Distil both teachers into the compact student, on real images.",
        inputs={"teacher_recognition": "teacher-recognition", "teacher_reconstruction": "teacher-reconstruction"}),
    "finetune": StageSpec(
        PairedConfig, "derain.training.paired:PairedStage",
        "Fine-tune the distilled student on a seeded fraction of the synthetic pairs.",
        inputs={"init": "distill"},
        options={"fraction": _FRACTION,
                 "distill_weight": (float, "Weight of the feature anchor to the distilled student (0: off).")}),
    "supervised": StageSpec(
        PairedConfig, "derain.training.paired:PairedStage",
        "Ablation: the same network trained from scratch on the same pairs and budget.",
        options={"fraction": _FRACTION,
                 "arch": (str, "Architecture to train (default from the config; e.g. prenet).")}),
    "vapour": StageSpec(
        VapourConfig, "derain.training.vapour:VapourStage",
        "Train the vapour branch (transmission, airlight) and join it to a finished streak branch.",
        inputs={"streaks": "finetune", "init": "distill"}),
}


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp` (YAML lists become tuples where declared)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise DerainError(f"config: {where} must be a mapping, got {value!r}")
        return from_dict(tp, value, where + ".")
    if origin in (list, tuple) and not isinstance(value, (list, tuple)):
        raise DerainError(f"config: {where} must be a list, got {value!r}")
    if origin is dict:
        if not isinstance(value, dict):
            raise DerainError(f"config: {where} must be a mapping, got {value!r}")
        return {_coerce(k, args[0], f"{where} key"): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if len(value) != len(args):
            raise DerainError(f"config: {where} must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise DerainError(f"config: {where} must be {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass `cls` from `data`; unknown, missing or mistyped keys raise `DerainError`."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise DerainError(f"config: unknown key(s) {', '.join(prefix + k for k in unknown)} "
                          f"(known: {', '.join(fields)})")
    missing = [k for k, f in fields.items() if k not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise DerainError(f"config: missing key(s) {', '.join(prefix + k for k in missing)}")
    return cls(**{k: _coerce(v, hints[k], prefix + k) for k, v in data.items()})


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain YAML-friendly dict (tuples as lists) of a config (or of a dict holding configs)."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value

    return plain(cfg)


def defaults(cls: type) -> dict[str, Any]:
    """The default value of every field of config class `cls` that has one (YAML-friendly)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return to_dict(out)


def profile_path(stage: str, profile: str) -> Path:
    """The shipped YAML of `stage` at `profile`."""
    if profile not in PROFILES:
        raise DerainError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    ref = resources.files("derain") / "configs" / stage.replace("-", "_") / f"{profile}.yaml"
    return Path(str(ref))


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML mapping from `path` (one-line errors for missing files and bad syntax)."""
    path = Path(path)
    if not path.is_file():
        raise DerainError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DerainError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise DerainError(f"{path}: a config must be a mapping of keys to values")
    return data


def _config_path(stage: str, source: str | os.PathLike[str]) -> Path:
    path = profile_path(stage, str(source)) if str(source) in PROFILES else Path(source)
    if not path.suffix and not path.exists():
        raise DerainError(f"unknown profile {str(source)!r}; use one of {', '.join(PROFILES)} or a YAML file")
    return path


def read_config(stage: str, path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The keys of a config file, on top of those of its `base:` (a profile of the same stage, or a
    YAML path relative to the file), so that an experiment states only what it changes. Top-level
    keys replace the base's whole (a `synth:` or `scatter:` block is given in full)."""
    data = read_yaml(path)
    if "base" not in data:
        return data
    base = str(data.pop("base"))
    base_path = _config_path(stage, base) if base in PROFILES else path.parent / base
    if base_path.resolve() in seen:
        raise DerainError(f"{path}: base {base!r} includes itself")
    return {**read_config(stage, base_path, (*seen, path.resolve())), **data}


def load_config(stage: str, source: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a stage config from a profile name or a YAML path, apply `overrides` (keys as in YAML), validate."""
    if stage not in STAGES:
        raise DerainError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    path = _config_path(stage, source)
    data = {**read_config(stage, path), **(overrides or {})}
    try:
        cfg = from_dict(STAGES[stage].config, data)
        cfg.validate()
    except DerainError as exc:
        raise DerainError(f"{path}: {exc}") from exc
    return cfg
