"""LoRA (Hu et al., 2021), from scratch, on the q and v projections of all 18 attention modules.

    y = W x + (alpha / r) * B A dropout(x),   A: r x d_in (kaiming-uniform),  B: d_out x r (zeros)

W stays frozen; B = 0 makes the model exactly unchanged at initialisation. After training,
W + (alpha / r) B A can be merged into W, so inference costs nothing extra.
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from helpers.methods.inject import freeze, wrap_matching

# q and v of encoder self-, decoder self- and decoder cross-attention; never lm_head or FF.
LORA_TARGET = re.compile(r"(SelfAttention|EncDecAttention)\.(q|v)$")


class LoRALinear(nn.Module):
    """A frozen nn.Linear `base` plus a trainable low-rank update (alpha / rank) B A dropout(x).

    What the grader relies on: the module trains exactly two tensors, A of shape
    (rank, in_features) and B of shape (out_features, rank), each either an nn.Parameter or the
    weight of a bias-free nn.Linear (nn.Linear(in_features, rank, bias=False) holds a weight of
    shape (rank, in_features)); it finds them by these shapes, whatever their names. A starts
    kaiming-uniform with a = sqrt(5) (as nn.Linear and PEFT), B at zeros; scaling = alpha / rank;
    dropout (nn.Dropout) acts on the update's input only. Here: base, lora_A, lora_B, scaling, dropout."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))   # as PEFT and nn.Linear do
        self.scaling = alpha / rank
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W x + b + scaling * B A dropout(x), for x of shape (..., in_features)."""
        ### BEGIN SOLUTION
        # Two thin matmuls (d_in -> r -> d_out) instead of materialising the d_out x d_in update.
        update = F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)
        # Added into W x in place: nothing saves W x for backward, and a step then holds one
        # activation-sized buffer less per wrapped linear.
        return self.base(x).add_(update, alpha=self.scaling)
        ### END SOLUTION

    def merged(self) -> nn.Linear:
        """A plain nn.Linear computing the same function: weight W + scaling * B A, the same bias."""
        ### BEGIN SOLUTION
        linear = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(self.base.weight + (self.lora_B @ self.lora_A) * self.scaling)
            if self.base.bias is not None:
                linear.bias.copy_(self.base.bias)
        return linear.to(self.base.weight.device, self.base.weight.dtype)
        ### END SOLUTION


def add_lora(model: nn.Module, rank: int, alpha: float, dropout: float = 0.0) -> nn.Module:
    """Freeze the model, then wrap every linear whose name LORA_TARGET matches (q and v of every
    attention module: encoder self-, decoder self- and cross-attention) in a LoRALinear, using
    freeze and wrap_matching from helpers.methods.inject; return the model. The wrapper takes
    the linear's place, so its tensors are named after it (...SelfAttention.q...), and only A and
    B train."""
    ### BEGIN SOLUTION
    freeze(model)
    wrap_matching(model, lambda name, module: isinstance(module, nn.Linear) and LORA_TARGET.search(name) is not None,
                  lambda name, linear: LoRALinear(linear, rank, alpha, dropout))
    return model
    ### END SOLUTION


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its frozen weight (in place): a plain T5 for inference, with
    no LoRALinear left (its state_dict has exactly T5's tensor names and shapes); return the model."""
    ### BEGIN SOLUTION
    wrap_matching(model, lambda name, module: isinstance(module, LoRALinear), lambda name, lora: lora.merged())
    return model
    ### END SOLUTION
