"""The trainable tensors of a model (what the optimizer sees, what a checkpoint keeps) and the
per-epoch checkpoints for --resume: those tensors, optimizer, scheduler, RNG state and the
curves so far. Written to a temporary file and renamed, so a run killed while saving leaves
the previous checkpoint intact."""
from __future__ import annotations

import os

import torch

from helpers.study.paths import checkpoint_dir


def trainable_parameters(model) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def trainable_state(model) -> dict[str, torch.Tensor]:
    """A CPU copy of the trainable tensors: the best epoch's weights, or a checkpoint's."""
    return {n: p.detach().to("cpu", copy=True) for n, p in trainable_parameters(model)}


def load_trainable_state(model, state: dict[str, torch.Tensor]) -> None:
    parameters = dict(trainable_parameters(model))
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


def checkpoint_path(profile: str, run_id: str, seed: int, model: str | None = None):
    return checkpoint_dir(profile, run_id, model) / f"seed{seed}.pt"


def save_checkpoint(profile: str, run_id: str, seed: int, state: dict, model: str | None = None) -> None:
    path = checkpoint_path(profile, run_id, seed, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(profile: str, run_id: str, seed: int, model: str | None = None) -> dict | None:
    path = checkpoint_path(profile, run_id, seed, model)
    if not path.is_file():
        return None
    return torch.load(path, weights_only=False, map_location="cpu")   # our own file: optimizer state needs pickle
