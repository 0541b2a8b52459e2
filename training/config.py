"""Training configuration, presets and JSON config files."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curvecast.errors import InvalidConfigError
from curvecast.validation import check_field_types
from curvecast.pfn.model import ModelConfig
from curvecast.priors import PriorName
from curvecast.training.split import SplitPolicy

__all__ = ["TrainConfig", "PRESETS", "preset", "finetune", "load_config"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; a run folder's ``config.json`` records it.

    ``batch_size`` is tasks per optimizer step per process. ``prior_overrides`` sets fields of the prior
    dataclass (e.g. ``{"max_runs": 4}``).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    prior: PriorName = "default"
    prior_overrides: dict[str, Any] = field(default_factory=dict)
    split: SplitPolicy = field(default_factory=SplitPolicy)
    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    out_dir: str = "runs/curvecast"
    log_every: int = 10
    eval_every: int = 250
    eval_tasks: int = 128
    checkpoint_every: int = 250
    border_tasks: int = 2048
    progress: bool = True
    #: Stop (with a checkpoint) once this many seconds have passed; ``--resume`` continues later.
    time_limit_s: float | None = None
    #: Start from a trained model's weights: ``"default"`` (the shipped model) or a checkpoint folder.
    init: str | None = None
    #: Learning-rate multipliers by parameter-name prefix, e.g. ``{"hparam_encoder": 10}`` to let a part a
    #: warm-started model lacked (started at zero) catch up faster than the rest moves.
    lr_multipliers: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_field_types(self)
        positive = ("steps", "batch_size", "log_every", "eval_every", "eval_tasks", "checkpoint_every", "border_tasks")
        for name in positive:
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise InvalidConfigError(f"TrainConfig.time_limit_s must be > 0 seconds (or None for no limit), got {self.time_limit_s}")
        if self.warmup_steps < 0:
            raise InvalidConfigError(f"TrainConfig.warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.seed <= MAX_SEED:  # the generators are seeded with seed * 7919 + rank, a 64-bit int
            raise InvalidConfigError(f"TrainConfig.seed must be an int from 0 to {MAX_SEED}, got {self.seed}")
        if not self.grad_clip > 0:
            raise InvalidConfigError(f"TrainConfig.grad_clip must be > 0 (the largest gradient norm), got {self.grad_clip}")
        if self.weight_decay < 0:
            raise InvalidConfigError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay}")
        if not self.lr > 0:
            raise InvalidConfigError(f"TrainConfig.lr must be > 0, got {self.lr}")
        for prefix, factor in self.lr_multipliers.items():
            if not isinstance(prefix, str) or isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < float("inf"):
                raise InvalidConfigError(f"TrainConfig.lr_multipliers maps parameter-name prefixes to positive factors, got {prefix!r}: {factor!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InvalidConfigError(f"TrainConfig.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.prior not in ("default", "simple"):
            raise InvalidConfigError(f"TrainConfig.prior must be 'default' or 'simple', got {self.prior!r}")

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a (JSON) dict; nested ``model`` and ``split`` are dicts of their fields."""
        if not isinstance(data, dict):
            raise InvalidConfigError("a training config must be a JSON object of TrainConfig fields")
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidConfigError(f"unknown training config keys {unknown}; valid keys are {sorted(known)}")
        for key, sub in (("model", ModelConfig), ("split", SplitPolicy)):
            if key in data:
                sub_known = {f.name for f in dataclasses.fields(sub)}
                if not isinstance(data[key], dict) or set(data[key]) - sub_known:
                    raise InvalidConfigError(f"'{key}' must be an object with keys among {sorted(sub_known)}, got {data[key]!r}")
                data[key] = sub(**data[key])
        return cls(**data)


def _tiny() -> TrainConfig:
    # About a minute on a 2-core CPU: small model, short single- and few-run tasks.
    return TrainConfig(
        model=ModelConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128, n_bars=64, max_runs=4),
        prior_overrides={"max_runs": 3, "n_points": 24},
        steps=300,
        batch_size=16,
        lr=1e-3,
        warmup_steps=20,
        eval_every=100,
        eval_tasks=64,
        checkpoint_every=100,
        border_tasks=512,
        device="cpu",
    )


#: The largest seed: the prior's generator takes ``seed * 7919 + rank``, which must fit a signed 64-bit int.
MAX_SEED = 2**40


def _small() -> TrainConfig:
    # A useful CPU model in tens of minutes.
    return TrainConfig(
        model=ModelConfig(d_model=128, n_layers=4, n_heads=4, d_ff=256, n_bars=256, max_runs=8),
        prior_overrides={"max_runs": 4, "n_points": 48},
        steps=3000,
        batch_size=32,
        lr=5e-4,
        warmup_steps=100,
    )


def _cpu() -> TrainConfig:
    # The CPU stage the shipped models grew from: it continues the shipped default model (whose own recipe, a
    # fine-tune on a mixture with real-curve banks, is in curvecast/models/default/README.md) on the full
    # synthetic prior: sweeps of up to 12 curves, 32-row scaling tables, free hyperparameters, the largest runs
    # held out. 1.5 to 2 hours on 2 idle CPU cores; --time-limit and --resume split it up.
    return TrainConfig(
        model=ModelConfig(d_model=128, n_layers=4, n_heads=4, d_ff=256, n_bars=256, max_runs=48),
        prior_overrides={"max_runs": 32, "n_points": 64, "max_task_points": 320},
        split=SplitPolicy(p_holdout_largest=0.3),
        steps=14000,
        batch_size=32,
        lr=3e-4,
        warmup_steps=300,
        eval_every=1000,
        checkpoint_every=250,
        device="cpu",
        init="default",
    )


def _default() -> TrainConfig:
    # The GPU recipe: the shipped model's last-stage prior (single curves, sweeps of up to 32 runs, 32-row
    # scaling tables, free hyperparameters in 60% of the tasks, the largest runs held out) for a model 8x larger
    # (5.2M parameters) and 8x the batch. 7.5 steps/s on one H100 (measured once, on the base mix without the
    # free-hyperparameter settings, which then read hyperparameters far worse than the shipped model:
    # BENCHMARKS.md, "The GPU recipe, run once"). The learning rate decays over `steps`: size them to the time
    # slot (benchmarks/gpu_recipe.sh does), since --time-limit stops wherever the run has got to.
    return TrainConfig(
        model=ModelConfig(d_model=256, n_layers=6, n_heads=8, d_ff=1024, n_bars=1000, max_runs=48),
        prior_overrides={"max_runs": 32, "n_points": 64, "max_task_points": 320, "p_free_hparams": 0.6, "p_pure_sweep": 0.5},
        split=SplitPolicy(p_holdout_largest=0.3, p_unobserved=0.25),
        steps=20000,
        batch_size=256,
        lr=3e-4,
        warmup_steps=300,
        eval_every=1000,
        eval_tasks=512,
        checkpoint_every=1000,
        border_tasks=8192,
    )


def finetune(init: str = "default") -> TrainConfig:
    """Fine-tune a trained model (``"default"``, the shipped one, or a checkpoint folder) on another prior.

    The architecture, and the split policy and prior settings it was trained with, come from the source's
    ``config.json``, so its weights fit; 1,000 steps at a lower learning rate, which takes about 5 minutes on
    2 CPU cores for the shipped model.
    """
    from curvecast.pfn.checkpoint import read_config
    from curvecast.training.warm_start import resolve_init

    source = read_config(resolve_init(init))
    try:
        model = ModelConfig(**source["model"])
    except (KeyError, TypeError) as exc:
        raise InvalidConfigError(f"cannot fine-tune '{init}': its config.json holds no usable model config ({exc})") from None
    trained = (source.get("training") or {}).get("train") or {}
    split = SplitPolicy(**trained["split"]) if isinstance(trained.get("split"), dict) else SplitPolicy()
    return TrainConfig(
        model=model,
        prior=trained.get("prior", "default"),
        prior_overrides=dict(trained.get("prior_overrides") or {}),
        split=split,
        steps=1000,
        batch_size=32,
        lr=1e-4,
        warmup_steps=50,
        eval_every=250,
        checkpoint_every=250,
        device="cpu",
        init=init,
    )


PRESETS = {"tiny": _tiny, "small": _small, "cpu": _cpu, "default": _default, "finetune": finetune}


def preset(name: str) -> TrainConfig:
    """A named preset: ``tiny`` (CPU, ~1 minute), ``small`` (CPU, tens of minutes), ``cpu`` (the shipped model,
    14,000 more steps on the synthetic prior, 1.5 to 2 hours on 2 cores), ``default`` (GPU), ``finetune`` (the
    shipped model, 1,000 more steps)."""
    if name not in PRESETS:
        raise InvalidConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()


def load_config(path: str | Path, *, base: TrainConfig | None = None) -> TrainConfig:
    """Read a JSON training config; an optional ``"preset"`` key names the preset its other keys override
    (without one, they override ``base``, e.g. ``finetune(init)``, or else :class:`TrainConfig`'s defaults)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"training config file '{path}' does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidConfigError(f"training config '{path}' is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidConfigError(f"training config '{path}' must hold a JSON object")
    if "preset" in data:
        base = preset(data.pop("preset")).to_dict()
    else:
        base = base.to_dict() if base is not None else {}
    if "prior" in data and data["prior"] != base.get("prior"):
        base.pop("prior_overrides", None)  # the preset's overrides belong to its own prior
    for key in ("model", "split", "prior_overrides"):
        if key in base and key in data and isinstance(data[key], dict):
            data[key] = {**base[key], **data[key]}
    return TrainConfig.from_dict({**base, **data})
