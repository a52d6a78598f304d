"""Per-epoch checkpoints for --resume: the method's tensors, optimizer, scheduler, RNG state and
the accuracies so far. Written to a temporary file and renamed, so a run killed while saving
leaves the previous checkpoint intact."""
from __future__ import annotations

import os

import torch

from .paths import checkpoint_dir


def checkpoint_path(profile: str, run_id: str, seed: int):
    return checkpoint_dir(profile, run_id) / f"seed{seed}.pt"


def save_checkpoint(profile: str, run_id: str, seed: int, state: dict) -> None:
    path = checkpoint_path(profile, run_id, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(profile: str, run_id: str, seed: int) -> dict | None:
    path = checkpoint_path(profile, run_id, seed)
    if not path.is_file():
        return None
    return torch.load(path, weights_only=False, map_location="cpu")   # our own file: optimizer state needs pickle
