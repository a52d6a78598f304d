"""(IA)^3 (Liu et al., 2022), from scratch, on PEFT's default targets for T5.

Learned vectors rescale keys and values in every attention module (encoder self-, decoder self-
and cross-attention) and the input of every feed-forward output projection `wo`:

    k = l_k * (W_k x),   v = l_v * (W_v x),   FF(x) = W_o (l_ff * ReLU(W_i x))

All vectors start at 1, so the model is exactly unchanged at initialisation.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from helpers.methods.inject import freeze, wrap_matching

# k and v of every attention module; the feed-forward output projection (scaled on its input).
IA3_TARGET = re.compile(r"(SelfAttention|EncDecAttention)\.(k|v)$|DenseReluDense\.wo$")


class IA3Linear(nn.Module):
    def __init__(self, base: nn.Linear, on_input: bool):
        super().__init__()
        self.base, self.on_input = base, on_input
        self.scale = nn.Parameter(torch.ones(base.in_features if on_input else base.out_features))

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight   # T5's feed-forward reads wo.weight (its dtype) before calling wo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.on_input:
            return self.base(x * self.scale)
        return self.base(x) * self.scale


def add_ia3(model: nn.Module) -> nn.Module:
    """Freeze the model, then wrap k, v (output scaling) and wo (input scaling)."""
    freeze(model)
    wrap_matching(model, lambda name, module: isinstance(module, nn.Linear) and IA3_TARGET.search(name) is not None,
                  lambda name, linear: IA3Linear(linear, on_input=name.endswith("wo")))
    return model
