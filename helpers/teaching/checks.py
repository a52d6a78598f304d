"""What the grader checks, piece by piece, on small random T5s (seconds on a CPU): the exact
parameter count against the library twin's, identity at initialisation, the same logits and
gradients as the library twin given the same tensors (PEFT LoRA, AdapterHub SeqBn, PEFT prompt
tuning), and a short training run that learns. Each check takes the student's definitions (a
namespace) and raises Failed with a one-line reason; it never reads the notebook's outputs.
The library twins are built here from the libraries alone, not from helpers' solutions."""
from __future__ import annotations

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
    needs: tuple[str, ...]   # names the notebook's tagged cells must define
    check: Callable          # (namespace) -> None, or raises Failed
    what: str


def expect(condition, why: str) -> None:
    if not condition:
        raise Failed(why)


def small_t5(d_kv: int = 8):
    """conftest's small T5: t5-small's structure at a fraction of its width."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=64, d_model=32, d_kv=d_kv, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, dropout_rate=0.0, feed_forward_proj="relu",
                      tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5ForConditionalGeneration(config).eval()


def sample_batch() -> dict:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, 64, (3, 7), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 5:] = 0   # one padded row, so masks matter
    input_ids[1, 5:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": torch.tensor([[5, 1], [6, 1], [5, 1]])}


def logits(model, batch) -> torch.Tensor:
    start = torch.zeros((batch["input_ids"].size(0), 1), dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=start).logits


def gradients(model, batch, parameters) -> list[torch.Tensor]:
    """Gradients of one training loss in eval mode (no dropout: both sides see one function)."""
    model.zero_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model(**batch).loss.backward()
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in parameters]


def randomise(parameters, seed: int = 5) -> None:
    """Non-trivial method tensors: B and W_up start at zero, which would make a comparison trivial."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in parameters:
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)


def trainable(model) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def n_trainable(model) -> int:
    return sum(p.numel() for p in trainable(model).values())


def n_total(model) -> int:
    return sum(p.numel() for p in model.parameters())


def same_logits(student, library, batch, atol: float = 1e-5) -> None:
    a, b = logits(student, batch), logits(library, batch)
    expect(a.shape == b.shape, f"logits of shape {tuple(a.shape)}, the library's {tuple(b.shape)}")
    difference = (a - b).abs().max().item()
    expect(difference <= atol, f"logits differ from the library twin's by up to {difference:.2e} (same tensors)")


def same_gradients(g_student, g_library) -> None:
    for a, b in zip(g_student, g_library):
        scale = max(b.abs().max().item(), 1e-12)
        difference = (a - b).abs().max().item()
        # float32 sums in another order differ by ~1e-7 of the largest term; a wrong piece by ~|g|
        expect(difference <= 1e-5 * scale, f"gradients differ from the library twin's by up to {difference:.2e}")


def copy_into(target: torch.Tensor, source: torch.Tensor, what: str) -> None:
    expect(target.shape == source.shape, f"{what} has shape {tuple(source.shape)}, the library's {tuple(target.shape)}")
    with torch.no_grad():
        target.copy_(source)


def identity_at_init(student, backbone, batch) -> None:
    difference = (logits(student, batch) - logits(backbone, batch)).abs().max().item()
    expect(difference <= 1e-6, f"not the identity at initialisation: logits move by {difference:.2e}")


def learns(model, batch, lr: float, steps: int = 25) -> None:
    """A short training run on one batch: the loss must fall by a fifth, and only the method's
    own tensors may change (the backbone stays frozen)."""
    parameters = list(trainable(model).values())
    expect(parameters, "no trainable parameters")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    expect(all(map(torch.isfinite, map(torch.tensor, losses))), "the training loss is not finite")
    expect(losses[-1] < 0.8 * losses[0], f"the loss does not fall in {steps} steps ({losses[0]:.3f} -> {losses[-1]:.3f})")
    moved = [n for n, p in model.named_parameters() if n in frozen and not torch.equal(p, frozen[n])]
    expect(not moved, f"frozen weights changed in training: {(moved or [None])[0]}")
