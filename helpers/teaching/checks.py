"""The grader's comparisons, made in its own process on answers the sandbox returned: each raises
Failed with a one-line reason that says what is wrong. Answers are untrusted data: a missing,
malformed, non-finite or wrongly shaped one fails here with its reason, never with a crash."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import torch


class Failed(Exception):
    """A check that ran and found the piece wrong; the message says how, in one line."""


@dataclass(frozen=True)
class Item:
    key: str
    notebook: str
    points: int
    question: str            # the sandbox question whose answer it reads (see answer.py)
    check: Callable          # (answer, draw) -> None, or raises Failed
    what: str                # what it checks, in words (the README's table and the grade table)


def expect(condition, why: str) -> None:
    if not condition:
        raise Failed(why)


def tensor(answer, name: str, shape: tuple | None = None, what: str | None = None) -> torch.Tensor:
    """A tensor of the answer, finite and (if given) of the expected shape."""
    what = what or name
    found = answer.tensors.get(name)
    expect(isinstance(found, torch.Tensor), f"no {what} in the answer")
    expect(shape is None or tuple(found.shape) == tuple(shape),
           f"{what} has shape {tuple(found.shape)}, expected {tuple(shape or ())}")
    expect(not found.is_floating_point() or bool(torch.isfinite(found).all()), f"{what} is not finite")
    return found


def start_tokens(batch) -> torch.Tensor:
    return torch.zeros((batch["input_ids"].size(0), 1), dtype=torch.long)


def logits(model, batch) -> torch.Tensor:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     decoder_input_ids=start_tokens(batch)).logits


def gradients(model, batch, parameters) -> list[torch.Tensor]:
    """Gradients of one training loss in eval mode (no dropout: both sides see one function)."""
    model.zero_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model(**batch).loss.backward()
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in parameters]


def close(given: torch.Tensor, truth: torch.Tensor, what: str, atol: float) -> None:
    expect(tuple(given.shape) == tuple(truth.shape), f"{what} of shape {tuple(given.shape)}, expected {tuple(truth.shape)}")
    difference = (given.float() - truth.float()).abs().max().item() if truth.numel() else 0.0
    expect(math.isfinite(difference) and difference <= atol, f"{what} differ by up to {difference:.2e}")


def close_gradients(given: torch.Tensor, truth: torch.Tensor, what: str) -> None:
    # float32 sums in another order differ by ~1e-7 of the largest term; a wrong piece by ~|g|
    close(given, truth, what, 1e-5 * max(truth.abs().max().item(), 1e-12))


def copy_into(target: torch.Tensor, source: torch.Tensor) -> None:
    with torch.no_grad():
        target.copy_(source)


def n_total(model) -> int:
    return sum(p.numel() for p in model.parameters())


def trainable(model) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}
