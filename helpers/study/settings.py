"""Settings for one run: a commented dataclass of defaults, two profiles, validated overrides.

Every entry point (CLI, notebooks' papermill `parameters` cell, tests) goes through
`settings_for`, so a bad value is refused the same way everywhere, before any work starts.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from helpers import UserError
from helpers.study.runs import RunSpec, get_run


@dataclass
class Settings:
    profile: str = "full"            # "full": t5-small + IMDB; "tiny": offline synthetic demo
    epochs: int = 10                 # the assignment reports max validation accuracy after 10 epochs
    batch_size: int = 32             # per process; T5-small at 512 tokens fits easily in 16 GB
    eval_batch_size: int = 128       # evaluation keeps no activations for backward, so it can be larger
    lr: float = 0.0                  # 0 = the method's documented rate (METHOD_LR below)
    warmup_ratio: float = 0.06       # linear warmup over 6% of steps, then linear decay to 0
    weight_decay: float = 0.01       # AdamW decay on matrices only; none on biases, norms, prompts
    max_grad_norm: float = 1.0       # clipping keeps the high PEFT learning rates stable
    max_length: int = 512            # T5's pretraining length; longer reviews are truncated
    seed: int = 0                    # first seed; set before every random step, saved in results
    seeds: int = 1                   # number of seeds (seed, seed+1, ...); >1 gives mean +- std
    n_tokens: int = 0                # soft prompt length (0 = the run's own: 10 or 1)
    bottleneck: int = 0              # adapter bottleneck width (0 = the run's own: 8 or 1)
    rank: int = 0                    # LoRA rank (0 = the run's own: 8 or 1)
    trainable_blocks: int = 0        # partial fine-tuning: last blocks of encoder and of decoder that train (0 = 2)
    lora_alpha: float = 8.0          # PEFT's default; scaling = alpha / rank, shared by scratch and PEFT
    lora_dropout: float = 0.1        # on the LoRA branch input only, as PEFT does
    template: str = "{text}"         # plain review: no task prefix, so epoch 0 shows what T5 knows unaided
    val_size: int = 2500             # reviews held out of train (stratified) for model selection
    train_limit: int = 0             # 0 = all training reviews; >0 subsamples for quick experiments
    train_part: str = ""             # "i/k": only the i-th of k disjoint parts of the training reviews (notebook 07)
    test_limit: int = 0              # 0 = the whole test split
    generate_eval: bool = True       # final test also by generate + string match (course's metric)
    num_workers: int = 0             # DataLoader workers; batches are pre-tokenised, so 0 is fine
    checkpoint: bool = True          # save state after each epoch so --resume can continue
    # "auto": bf16 autocast on a GPU that computes bf16 natively (compute capability >= 8.0: A100,
    # L4, H100), fp32 elsewhere (CPU, T4, V100: their bf16 is emulated). "bf16" forces it (on a CPU,
    # accelerate's CPU autocast: slow, but it runs the GPU's bf16 path); "fp32" never autocasts.
    # Never fp16: T5 overflows in it. The results file records what was used.
    precision: str = "auto"
    # "" = the profile's own (t5-small on full, the tiny T5 on tiny); any T5 checkpoint on the hub
    # (t5-base, google/flan-t5-base, google/t5-base-lm-adapt, ...) or a save_pretrained folder.
    # Results of other models go to their own folders (helpers.study.paths.model_folder).
    model: str = ""

    def method_size(self, run: RunSpec) -> int:
        """The run's n_tokens/bottleneck/rank/trainable_blocks after overrides (0 where it has none)."""
        return getattr(self, run.size_key) if run.size_key else 0


# Per-method learning rates (AdamW with warmup and linear decay), with their source.
# Scratch and library variants of one method share the rate on purpose: a gap between the two
# rows must come from the implementation, not from tuning.
METHOD_LR = {
    "full": 3e-4,     # transformers' T5 docs: 1e-4 and 3e-4 work well for T5 with AdamW
    "prompt": 3e-2,   # high rates are needed for prompts (Lester et al. 2021 used 0.3 with Adafactor)
    "adapter": 1e-3,  # adapters train well at 1e-4..1e-3 (Houlsby et al. 2019 sweep; AdapterHub docs)
    "lora": 1e-3,     # PEFT's seq2seq LoRA example uses 1e-3
    # Notebook 06 (beyond the assignment); scratch and library twins share these too.
    "prefix": 1e-2,   # PEFT's seq2seq prefix-tuning example uses 1e-2 (no reparameterisation, like here)
    "ia3": 3e-3,      # Liu et al. 2022 (T-Few) trained (IA)^3 at 3e-3
    "bitfit": 1e-3,   # Ben Zaken et al. 2022 swept 1e-4..1e-3 for BitFit; the top of that range
    "partial": 3e-4,  # as full fine-tuning: the same weights, fewer of them
}


@dataclass(frozen=True)
class Profile:
    name: str
    model: str      # hub name or "tiny" (built offline by helpers.models.tiny)
    data: str       # hub name or "synthetic" (generated offline by helpers.synthetic)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    method_lr: Mapping[str, float] = field(default_factory=dict)
    # Zero-shot templates (notebook 06): the plain review, and the task prefix the backbone met in
    # its pretraining, to show how much sentiment it already knows before any training.
    zero_shot: Mapping[str, str] = field(default_factory=dict)
    # torch's CPU threads for every run of the profile (None: torch's default, all cores). Float
    # sums come out in another order with another thread count, which can move an accuracy by a
    # review, so a profile that fixes it gives the same numbers on any machine's core count.
    threads: int | None = None


PROFILES = {
    # t5-small's pretraining mixture includes SST-2 behind the prefix "sst2 sentence:".
    "full": Profile("full", model="t5-small", data="imdb",
                    zero_shot={"plain": "{text}", "sst2 sentence:": "sst2 sentence: {text}"}),
    # Minutes on 2 CPU cores: a 4-layer T5 pretrained on the synthetic corpus (helpers.models.tiny).
    "tiny": Profile(
        "tiny", model="tiny", data="synthetic",
        defaults=dict(epochs=6, max_length=96, batch_size=32, eval_batch_size=256, val_size=400),
        # The tiny backbone has 1/1000 of t5-small's weights; measured on it, full fine-tuning
        # and the PEFT methods need higher rates to move in six short epochs.
        method_lr={"full": 1e-3, "prompt": 1e-1, "adapter": 3e-3, "lora": 3e-3,
                   "prefix": 3e-2, "ia3": 3e-2, "bitfit": 1e-2, "partial": 1e-3},
        zero_shot={"plain": "{text}", "<sentiment>": "<sentiment> {text}"},   # the tiny T5's task token
        # Its matrices are too small for a second thread to help (a LoRA run: 27.8 s on one thread
        # or two), and one thread per run lets `make demo` train two notebooks side by side.
        threads=1,
    ),
}

PRECISIONS = ("auto", "bf16", "fp32")

_POSITIVE_INTS = {"epochs", "batch_size", "eval_batch_size", "max_length", "seeds", "val_size"}
_METHOD_SIZES = {"n_tokens", "bottleneck", "rank", "trainable_blocks"}
_NON_NEGATIVE_INTS = {"seed", "train_limit", "test_limit", "num_workers"}


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UserError(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings)]


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Turn a command-line string (or a notebook value) into the field's type, or explain."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise UserError(f"setting {name}={value!r} is not a boolean; use {name}=true or {name}=false")
    if kind is int:
        if isinstance(value, bool):
            raise UserError(f"setting {name}={value!r} is not a whole number; use e.g. {name}=8")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UserError(f"setting {name}={value!r} is not a whole number; use e.g. {name}=8") from None
        if not number.is_integer():
            raise UserError(f"setting {name}={value!r} is not a whole number; use e.g. {name}=8")
        return int(number)
    if kind is float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UserError(f"setting {name}={value!r} is not a number; use e.g. {name}=0.001") from None
        if not math.isfinite(number):
            raise UserError(f"setting {name}={value!r} is not a finite number; use e.g. {name}=0.001")
        return number
    return str(value)


def _field_types() -> dict[str, type]:
    hints = {"int": int, "float": float, "bool": bool, "str": str}
    return {f.name: hints[f.type] for f in dataclasses.fields(Settings)}


def parse_assignments(pairs: list[str] | None) -> dict[str, str]:
    """`["epochs=3", "lr=1e-3"]` -> `{"epochs": "3", "lr": "1e-3"}`, refusing malformed items."""
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {pair!r} is not KEY=VALUE; write e.g. --set epochs=3")
        parsed[key.strip()] = value.strip()
    return parsed


def settings_for(run_id: str, profile: str = "full", overrides: Mapping[str, Any] | None = None) -> Settings:
    """Defaults, then the profile's, then the run's own method size, then the user's overrides."""
    run = get_run(run_id)
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    chosen = PROFILES[profile]
    values: dict[str, Any] = dict(chosen.defaults, profile=profile)
    if run.size_key:
        values[run.size_key] = run.size
    values.update(run.defaults)
    types = _field_types()
    for name, value in (overrides or {}).items():
        if value is None:  # a notebook parameter left at None means "keep the default"
            continue
        if name not in types or name == "profile":
            valid = ", ".join(n for n in types if n != "profile")
            raise UserError(f"unknown setting {name!r}; valid settings: {valid}")
        if name in _METHOD_SIZES and name != run.size_key:
            own = f"its own is {run.size_key}" if run.size_key else "it has none"
            raise UserError(f"setting {name} does not apply to run {run.run_id} ({own})")
        values[name] = _coerce(name, value, types[name])
    settings = Settings(**values)
    settings.model = settings.model.strip() or chosen.model
    _validate(settings, run)
    if settings.lr == 0.0:
        settings.lr = chosen.method_lr.get(run.method, METHOD_LR[run.method])
    return settings


def _validate(settings: Settings, run: RunSpec) -> None:
    # A zero rank, bottleneck or prompt length would train nothing while looking like a result.
    for name in _POSITIVE_INTS | ({run.size_key} if run.size_key else set()):
        value = getattr(settings, name)
        if value <= 0:
            raise UserError(f"setting {name}={value} must be a positive whole number, e.g. {name}=8")
    for name in _NON_NEGATIVE_INTS:
        value = getattr(settings, name)
        if value < 0:
            raise UserError(f"setting {name}={value} must be zero or positive")
    if settings.lr < 0:
        raise UserError(f"setting lr={settings.lr} must be positive (or 0 for the method's default)")
    for name in ("warmup_ratio", "lora_dropout"):
        value = getattr(settings, name)
        if not 0.0 <= value < 1.0:
            raise UserError(f"setting {name}={value} must lie in [0, 1)")
    if settings.weight_decay < 0 or settings.max_grad_norm <= 0 or settings.lora_alpha <= 0:
        raise UserError("settings weight_decay >= 0, max_grad_norm > 0 and lora_alpha > 0 are required")
    part = re.fullmatch(r"(\d+)/(\d+)", settings.train_part) if settings.train_part else None
    if settings.train_part and not (part and 1 <= int(part[1]) <= int(part[2])):
        raise UserError(f"setting train_part={settings.train_part!r} must be i/k with 1 <= i <= k, e.g. train_part=1/2")
    check_precision(settings.precision)
    if "{text}" not in settings.template:
        raise UserError(f"setting template={settings.template!r} must contain {{text}}, e.g. template='review: {{text}}'")


# Settings that change how a run executes but not what it measures: a run that changes only these
# still follows the assignment's protocol (its numbers compare with the references).
OPERATIONAL = {"profile", "model", "seed", "seeds", "eval_batch_size", "num_workers", "checkpoint", "precision",
               "generate_eval"}


def non_default_settings(run_id: str, settings: Settings) -> dict[str, Any]:
    """The settings that differ from the run's own defaults on its profile (epochs, max_length,
    train_limit, lr, ...), by name; {} for a run that follows the protocol."""
    default = dataclasses.asdict(settings_for(run_id, settings.profile, {"model": settings.model}))
    return {name: value for name, value in dataclasses.asdict(settings).items()
            if name not in OPERATIONAL and default[name] != value}


def describe_non_default(changed: Mapping[str, Any]) -> str:
    """'non-default settings: epochs=3, max_length=256', or '' when there are none."""
    return ("non-default settings: " + ", ".join(f"{k}={v}" for k, v in changed.items())) if changed else ""
