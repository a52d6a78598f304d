"""The surgery every from-scratch method does: freeze the backbone, then swap chosen submodules
for wrapped ones. The name filter (or module type) is the method's placement, so it is explicit."""
from __future__ import annotations

from typing import Callable

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


def wrap_matching(model: nn.Module, selects: Callable[[str, nn.Module], bool],
                  wrap: Callable[[nn.Module], nn.Module]) -> list[str]:
    """Replace every submodule that `selects(name, module)` picks by `wrap(module)`; the names.
    The list is made before any replacement, so a wrapper is never wrapped again."""
    targets = [name for name, module in model.named_modules() if selects(name, module)]
    for name in targets:
        replace_module(model, name, wrap(model.get_submodule(name)))
    return targets
