"""The grader's comparisons, made in its own process on answers the sandbox returned: each raises
Failed with a one-line reason that says what is wrong. Answers are untrusted data: a missing,
malformed, non-finite or wrongly shaped one fails here with its reason, never with a crash."""
from __future__ import annotations

import copy
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
        # no cache: one step needs none, and adapters' T5 warns about the legacy cache it builds
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     decoder_input_ids=start_tokens(batch), use_cache=False).logits


def gradients(model, batch, parameters) -> list[torch.Tensor]:
    """Gradients of one training loss in eval mode (no dropout: both sides see one function)."""
    model.zero_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model(**batch, use_cache=False).loss.backward()
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in parameters]


# How far above this draw's own float32 rounding an answer may be (see Reference).
ROUNDING_MARGIN = 10


def close(given: torch.Tensor, truth: torch.Tensor, what: str, bound: float) -> None:
    expect(tuple(given.shape) == tuple(truth.shape), f"{what} of shape {tuple(given.shape)}, expected {tuple(truth.shape)}")
    difference = (given.double() - truth.double()).abs().max().item() if truth.numel() else 0.0
    expect(math.isfinite(difference) and difference <= bound, f"{what} differ by up to {difference:.2e}")


@dataclass
class Reference:
    """A twin's logits and gradients in float64 (what any correct float32 answer approximates),
    and the bounds an answer must keep to: ROUNDING_MARGIN times what float32 rounding costs the
    same twin on this very draw, and never tighter than 1e-5 (of the largest gradient, for
    gradients). Rounding in a gradient follows the terms it sums, not the sum: a bias's gradient
    can be far smaller than its own rounding, and some draws are worse conditioned than others,
    so a bound fixed per tensor failed correct code (6 draws in 1,000 for the adapter). A wrong
    piece is off by about its own |g|, far above either bound."""
    logits: torch.Tensor
    gradients: list
    logit_bound: float
    gradient_bound: float


def reference(model, batch, names=()) -> Reference:
    """The Reference of `model` (left as it is) for its trainable tensors `names`, in that order."""
    runs = []
    for dtype in (torch.float64, torch.float32):
        twin = copy.deepcopy(model).to(dtype)
        tensors = trainable(twin)
        grads = gradients(twin, batch, [tensors[n] for n in names]) if names else []
        runs.append((logits(twin, batch).double(), [g.double() for g in grads]))
    (exact, exact_grads), (rounded, rounded_grads) = runs
    largest = max((g.abs().max().item() for g in exact_grads), default=0.0)
    grad_rounding = max(((a - b).abs().max().item() for a, b in zip(rounded_grads, exact_grads)), default=0.0)
    return Reference(exact, exact_grads, max(1e-5, ROUNDING_MARGIN * (rounded - exact).abs().max().item()),
                     max(1e-5 * largest, ROUNDING_MARGIN * grad_rounding))


def copy_into(target: torch.Tensor, source: torch.Tensor) -> None:
    with torch.no_grad():
        target.copy_(source)


def n_total(model) -> int:
    return sum(p.numel() for p in model.parameters())


def trainable(model) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}
