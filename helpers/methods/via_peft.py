"""PEFT: LoRA (notebook 05), prefix tuning and (IA)^3 (notebook 06), configured like their
scratch twins; saving and loading."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from helpers.methods.weights import folder_bytes, require_folder

# q and v of every attention module (encoder self-, decoder self- and cross-attention), as the
# scratch twin's LORA_TARGET; PEFT matches these names as suffixes.
LORA_MODULES = ["q", "v"]


def prefix_config(n_tokens: int):
    """n virtual key/value positions, no reparameterisation MLP (as the scratch twin). On T5 the
    prefix reaches the decoder's self-attention only (see helpers/methods/prefix.py)."""
    from peft import PrefixTuningConfig, TaskType

    return PrefixTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=n_tokens, prefix_projection=False)


def set_initial_prefix(model: nn.Module, initial: torch.Tensor) -> None:
    """The scratch twin's initial prefix, (n, layers, 2, heads, d_kv), in PEFT's embedding rows
    (n, layers x 2 x heads x d_kv), each layer's pair where PEFT's layout means it to be."""
    (weight,) = [p for p in model.prompt_encoder.parameters() if p.requires_grad]
    if weight.numel() != initial.numel():
        from helpers import UserError
        raise UserError("PEFT's prefix tuning sizes each key/value by d_model, but this model's attention is "
                        f"heads x d_kv = {initial.shape[-2] * initial.shape[-1]} wide (T5 v1.1): PEFT cannot "
                        "prefix it; use prefix_scratch_10")
    with torch.no_grad():
        weight.copy_(initial.reshape(weight.shape))


def ia3_config():
    """PEFT's default (IA)^3 targets for T5: k, v (output scaling) and wo (input scaling)."""
    from peft import IA3Config, TaskType

    return IA3Config(task_type=TaskType.SEQ_2_SEQ_LM)


def save(model: nn.Module, path: Path) -> int:
    model.save_pretrained(str(path))
    return folder_bytes(path)


def load(backbone: nn.Module, path: Path) -> nn.Module:
    from peft import PeftModel

    require_folder(path)
    return PeftModel.from_pretrained(backbone, str(path))
