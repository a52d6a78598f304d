"""The surgery the from-scratch methods do: freeze the backbone (or all but its last blocks), then
swap chosen submodules for wrapped ones. The name filter (or module type) is the method's
placement, so it is explicit."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from torch import nn


def freeze(model: nn.Module) -> nn.Module:
    """Stop every parameter of `model` from training (requires_grad False); return the model."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """model.get_submodule(name) = new, for a dotted name such as 'encoder.block.0.layer.1'."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def wrap_matching(model: nn.Module, selects: Callable[[str, nn.Module], bool],
                  wrap: Callable[[str, nn.Module], nn.Module]) -> list[str]:
    """Replace every submodule that `selects(name, module)` picks by `wrap(name, module)`, and
    return the names of the replaced submodules. The names are listed before any replacement,
    so a wrapper (which contains the module it wraps) is never wrapped again. Each wrapper is put
    where its module's weights are (device, dtype): a method built on a backbone already on a GPU
    (or the meta device) leaves no new tensor on the CPU."""
    targets = [name for name, module in model.named_modules() if selects(name, module)]
    for name in targets:
        module = model.get_submodule(name)
        replace_module(model, name, beside(wrap(name, module), module))
    return targets


def beside(new: nn.Module, old: nn.Module) -> nn.Module:
    """`new` on the device and in the dtype of `old`'s weights. New tensors are drawn on the CPU
    first, as PEFT draws its own: the same initial values from one seed on any device."""
    weight = next(old.parameters(), None)
    return new if weight is None else new.to(weight.device, weight.dtype)


@contextmanager
def kept_in_place(model: nn.Module):
    """For libraries that create their new tensors on the CPU whatever the backbone's device
    (AdapterHub, OpenDelta's BitFit): afterwards every tensor moves where the backbone's weights
    were. Module.to keeps each parameter's requires_grad (and, CPU to GPU, the parameter object;
    not to the meta device), so the library's bookkeeping (freezing, marks) goes inside the block."""
    weight = next(model.parameters())
    device, dtype = weight.device, weight.dtype
    yield model
    model.to(device, dtype)


def train_last_blocks(model: nn.Module, blocks: int) -> nn.Module:
    """Partial fine-tuning: freeze everything, then unfreeze the last `blocks` blocks of the
    encoder and of the decoder (embeddings, final layer norms and the head stay frozen)."""
    from helpers import UserError

    freeze(model)
    for stack in (model.encoder, model.decoder):
        if not 0 < blocks <= len(stack.block):
            raise UserError(f"trainable_blocks={blocks} must lie in 1..{len(stack.block)} for this model's "
                            f"{len(stack.block)}-block stacks")
        for block in stack.block[-blocks:]:
            block.requires_grad_(True)
    return model
