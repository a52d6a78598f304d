"""Bottleneck adapter (Houlsby et al., 2019; placed as AdapterHub's SeqBn / Pfeiffer), from scratch.

After each feed-forward sublayer of every block (6 encoder + 6 decoder = 12 adapters):

    h   = x + FF(LayerNorm(x))            # T5's own sublayer, frozen
    out = h + W_up ReLU(W_down h + b_down) + b_up

W_down: d_model -> bottleneck, W_up: bottleneck -> d_model. Initialised like AdapterHub's
"mam_adapter" option (W_down kaiming-uniform, W_up and biases zero), so the model is exactly
unchanged at initialisation and the library twin can share the same init.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from transformers.models.t5.modeling_t5 import T5LayerFF

from helpers.methods.inject import freeze, wrap_matching


class Bottleneck(nn.Module):
    """h + W_up ReLU(W_down h + b_down) + b_up, with down = nn.Linear(d_model, bottleneck)
    (kaiming-uniform weight, a = sqrt(5); zero bias) and up = nn.Linear(bottleneck, d_model)
    (zero weight and bias: the identity at start).

    What the grader relies on: an adapter trains exactly four tensors of the shapes these two
    linears hold (down: weight (bottleneck, d_model), bias (bottleneck,); up: weight
    (d_model, bottleneck), bias (d_model,)), found by their shapes whatever their names: two
    attributes as here, an nn.Sequential or Parameters of your own all work."""

    def __init__(self, d_model: int, bottleneck: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
            nn.init.zeros_(self.down.bias)
            nn.init.zeros_(self.up.weight)     # zero update at start: output unchanged
            nn.init.zeros_(self.up.bias)
        ### END SOLUTION

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden: (batch, length, d_model) -> the same shape."""
        ### BEGIN SOLUTION
        return hidden + self.up(torch.relu(self.down(hidden)))
        ### END SOLUTION


class FeedForwardWithAdapter(nn.Module):
    """T5's feed-forward sublayer (`feed_forward`, frozen, its own residual included) followed by
    a Bottleneck (`adapter`) of width d_model = the sublayer's layer-norm size."""

    def __init__(self, feed_forward: T5LayerFF, bottleneck: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.feed_forward = feed_forward
        self.adapter = Bottleneck(feed_forward.layer_norm.weight.numel(), bottleneck)
        ### END SOLUTION

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return self.adapter(self.feed_forward(hidden_states))
        ### END SOLUTION


def add_adapters(model: nn.Module, bottleneck: int) -> nn.Module:
    """Freeze the model, then wrap every T5LayerFF in a FeedForwardWithAdapter (the name filter
    is the module type; use freeze and wrap_matching from helpers.methods.inject); return the
    model. One adapter per block, encoder and decoder: num_layers + num_decoder_layers of them.
    Each lives inside the block it adapts (its tensors' names contain encoder.block.N or
    decoder.block.N, as they do when it wraps that block's T5LayerFF): the grader matches
    adapters to AdapterHub's block by block this way. Only the adapters train."""
    ### BEGIN SOLUTION
    freeze(model)
    wrap_matching(model, lambda name, module: isinstance(module, T5LayerFF),
                  lambda name, feed_forward: FeedForwardWithAdapter(feed_forward, bottleneck))
    return model
    ### END SOLUTION
