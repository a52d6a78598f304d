"""`python -m helpers bench --projection [--set KEY=VALUE ...]`: PROJECTED compute time of each
notebook and of the whole study (full profile, t5-small on IMDB) on the cards students have. A
projection, not a measurement: FLOPs counted from the model's configuration (as `bench` counts
them), divided by each card's published dense peak times an assumed share of it (utilisation).
Data loading, start-up and Python overhead come on top.

T4 runs fp32 (`precision=auto` gives it no bf16: Turing emulates it), the others bf16. Small
models use a small share of a tensor-core peak (short matrices, many kernel launches); fp32 on
CUDA cores is easier to keep busy, hence the T4's higher assumed share of its much lower peak.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from helpers.study.runs import ALL_RUNS, HALVES, RunSpec
from helpers.study.settings import Settings, settings_for

# The full profile's IMDB: 25,000 training reviews less the validation ones, 25,000 test reviews.
IMDB_TRAIN, IMDB_TEST = 25_000, 25_000


@dataclass(frozen=True)
class Card:
    name: str
    precision: str                       # what `precision=auto` gives it
    peak_flops: float                    # published dense peak in that precision (no sparsity), FLOP/s
    utilisation: tuple[float, float]     # assumed share of the peak reached: (low, high)
    source: str


CARDS = (
    Card("T4", "fp32", 8.1e12, (0.25, 0.50), "NVIDIA T4 datasheet: 8.1 TFLOP/s fp32 (no bf16, no TF32)"),
    Card("L4", "bf16", 121e12, (0.10, 0.25), "NVIDIA L4 datasheet: 242 TFLOP/s bf16 with sparsity, 121 dense"),
    Card("A100", "bf16", 312e12, (0.10, 0.25), "NVIDIA A100 datasheet: 312 TFLOP/s bf16 dense"),
    Card("H100", "bf16", 989e12, (0.10, 0.25), "NVIDIA H100 SXM datasheet: 989 TFLOP/s bf16 dense"),
)
# Notebook 07 scores 16 composed models on validation and test (helpers.training.compose);
# notebook 06 scores the backbone zero-shot with two templates.
ARITHMETIC_SCORINGS, ZERO_SHOT_TEMPLATES = 16, 2


# IMDB reviews average about 300 t5-small tokens after truncation at 512 (an assumption of the projection).
IMDB_MEAN_TOKENS = 300


def forward_flops_per_review(model: str = "t5-small", tokens: float = IMDB_MEAN_TOKENS) -> float:
    """FLOPs of one forward pass over a review of `tokens` tokens (encoder, then the decoder's two
    target tokens and the LM head) on a T5 shape, counted from its configuration."""
    from helpers.models.shapes import t5_config

    c = t5_config(model)
    d, ff, layers, vocab = c.d_model, c.d_ff, c.num_layers, c.vocab_size
    inner, ffs = c.num_heads * c.d_kv, 3 if c.is_gated_act else 2   # attention width; FF matrices (gated: 3)
    encoder_params = layers * (4 * d * inner + ffs * d * ff)
    attention = layers * 4 * tokens * inner                   # QK^T and AV per encoder token
    cross_kv = c.num_decoder_layers * 2 * 2 * d * inner       # decoder's K, V of every encoder token
    decoder = 2 * 2 * c.num_decoder_layers * (8 * d * inner + ffs * d * ff) + 2 * 2 * d * vocab   # 2 target tokens + LM head
    return tokens * (2 * encoder_params + attention + cross_kv) + decoder


@lru_cache(maxsize=None)
def _imdb_like_lengths() -> tuple[int, ...]:
    """Simulated IMDB review lengths in t5-small tokens, untruncated: log-normal, median ~230 (the
    distribution helpers.tools.bench.imdb_train_lengths draws when the real reviews are absent)."""
    rng = random.Random(0)
    return tuple(max(10, int(rng.lognormvariate(5.45, 0.75))) for _ in range(22_500))


@lru_cache(maxsize=None)
def mean_tokens(max_length: int, assumed_at_512: float = 300.0) -> float:
    """Mean tokens per review after truncation at `max_length`: the bench's assumed 300 at 512,
    scaled by how much truncation at `max_length` shortens the IMDB-like lengths."""
    lengths = _imdb_like_lengths()
    cut = lambda limit: sum(min(limit, n) for n in lengths) / len(lengths)   # noqa: E731
    return assumed_at_512 * cut(max_length) / cut(512)


def run_flops(run: RunSpec, settings: Settings, forward_flops) -> float:
    """Training (backward 2x forward with weight gradients: full and partial fine-tuning; 1x
    without) and evaluation (validation every epoch and before training, test by scoring, and by
    generate if on, counted as one more forward pass) of one run."""
    train = IMDB_TRAIN - settings.val_size
    if settings.train_limit:
        train = min(train, settings.train_limit)
    if settings.train_part:
        train //= int(settings.train_part.split("/")[1])
    test = min(IMDB_TEST, settings.test_limit or IMDB_TEST)
    per_review = forward_flops(mean_tokens(settings.max_length))
    passes = 3 if run.method in {"full", "partial"} else 2
    evaluation = settings.val_size * (settings.epochs + 1) + test * (2 if settings.generate_eval else 1)
    return per_review * (train * settings.epochs * passes + evaluation)


def notebook_flops(overrides: dict | None = None, model: str = "t5-small") -> dict[str, float]:
    """FLOPs of each notebook on the full profile with `overrides` (e.g. {"epochs": 3})."""

    forward = lru_cache(maxsize=None)(lambda tokens: forward_flops_per_review(model, tokens))
    flops: dict[str, float] = {}
    for run in ALL_RUNS + HALVES:
        settings = settings_for(run.run_id, "full", overrides)
        flops[run.notebook] = flops.get(run.notebook, 0.0) + run_flops(run, settings, forward)
    plain = settings_for("full_ft", "full", overrides)
    scoring = forward(mean_tokens(plain.max_length)) * (plain.val_size + min(IMDB_TEST, plain.test_limit or IMDB_TEST))
    flops["06_beyond"] += ZERO_SHOT_TEMPLATES * scoring
    flops["07_arithmetic"] += ARITHMETIC_SCORINGS * scoring
    return flops


def minutes(flops: float, card: Card) -> tuple[float, float]:
    """(fewest, most) minutes of compute: at the high, then the low assumed utilisation."""
    low, high = card.utilisation
    return flops / (card.peak_flops * high) / 60, flops / (card.peak_flops * low) / 60


def _span(pair: tuple[float, float]) -> str:
    low, high = pair
    if high >= 120:
        return f"{low / 60:.1f}-{high / 60:.1f} h"
    return f"{low:.0f}-{high:.0f} min" if low >= 1 else f"{low:.1f}-{high:.1f} min"


def projection_rows(overrides: dict | None = None) -> list[tuple[str, list[str]]]:
    """(notebook or total, one projected span per card), for the table and the notebooks' lines."""
    flops = notebook_flops(overrides)
    ten = sum(v for k, v in flops.items() if k < "06")
    rows = [(name, [_span(minutes(value, card)) for card in CARDS]) for name, value in sorted(flops.items())]
    rows.append(("the ten runs (01-05)", [_span(minutes(ten, card)) for card in CARDS]))
    rows.append(("all seven notebooks", [_span(minutes(sum(flops.values()), card)) for card in CARDS]))
    return rows


# Ways to fit one notebook into about an hour of a free Colab T4, each lowering one setting or two.
COLAB_CHOICES = ({}, {"epochs": 3}, {"max_length": 256}, {"train_limit": 5000},
                 {"epochs": 3, "max_length": 256}, {"epochs": 3, "max_length": 256, "train_limit": 5000},
                 {"epochs": 2, "max_length": 128, "train_limit": 5000, "test_limit": 5000})


def colab_rows() -> list[tuple[str, list[str]]]:
    """(the settings, the T4's projected span for each notebook 01-07) for each COLAB_CHOICES."""
    t4 = next(card for card in CARDS if card.name == "T4")
    rows = []
    for choice in COLAB_CHOICES:
        flops = notebook_flops(choice)
        name = ", ".join(f"{k}={v}" for k, v in choice.items()) or "defaults (the assignment's protocol)"
        rows.append((name, [_span(minutes(flops[nb], t4)) for nb in sorted(flops)]))
    return rows


def format_projection(overrides: dict | None = None) -> str:
    """The per-card table, the cards' sources, and the Colab T4 choices, labelled PROJECTION."""
    heads = [f"{card.name} ({card.precision})" for card in CARDS]
    lines = ["PROJECTION, not a measurement: compute time on the full profile (t5-small, IMDB)"
             + (f" with {', '.join(f'{k}={v}' for k, v in overrides.items())}" if overrides else ""),
             f"{'notebook':<22}" + "".join(f"{h:>16}" for h in heads)]
    lines += [f"{name:<22}" + "".join(f"{cell:>16}" for cell in cells) for name, cells in projection_rows(overrides)]
    lines += ["", "assumed: " + "; ".join(f"{c.name} {c.source}, {c.utilisation[0]:.0%}-{c.utilisation[1]:.0%} of it"
                                        for c in CARDS),
              "", "PROJECTION for a free Colab T4 (fp32), per notebook, by the settings lowered:"]
    notebooks = sorted(notebook_flops())
    lines.append(f"{'settings':<58}" + "".join(f"{nb[:2]:>13}" for nb in notebooks))
    lines += [f"{name:<58}" + "".join(f"{cell:>13}" for cell in cells) for name, cells in colab_rows()]
    return "\n".join(lines)
