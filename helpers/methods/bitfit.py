"""BitFit (Ben Zaken et al., 2022), from scratch. BitFit trains only the biases; T5 has none, so
zero biases are added, which leaves the model exactly unchanged at initialisation:

    y = W x + b,   b = 0 at the start, for q, k, v, o of every attention module (encoder self-,
    decoder self-, cross-attention) and wi, wo of every feed-forward sublayer; never lm_head.

T5's layer norms (RMSNorm, no bias) are left alone: OpenDelta's twin adds none there either.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from helpers.methods.inject import freeze

BITFIT_TARGET = re.compile(r"(SelfAttention|EncDecAttention)\.(q|k|v|o)$|DenseReluDense\.(wi|wi_0|wi_1|wo)$")   # wi_0, wi_1: gated FF


def add_bitfit(model: nn.Module) -> nn.Module:
    """Freeze the model, then give every targeted linear a trainable zero bias."""
    freeze(model)
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and BITFIT_TARGET.search(name):
            module.bias = nn.Parameter(torch.zeros(module.out_features, device=module.weight.device,
                                                   dtype=module.weight.dtype))
    return model
