"""Pieces every method shares: freezing the backbone and swapping a submodule by name."""
from __future__ import annotations

from torch import nn


def freeze(model: nn.Module) -> nn.Module:
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """model.get_submodule(name) = new, for a dotted name such as 'encoder.block.0.layer.1'."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
