"""LoRA through PEFT: the configuration that matches the scratch twin, saving and loading."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from helpers.methods.weights import folder_bytes, require_folder

# q and v of every attention module (encoder self-, decoder self- and cross-attention), as the
# scratch twin's LORA_TARGET; PEFT matches these names as suffixes.
LORA_MODULES = ["q", "v"]


def save(model: nn.Module, path: Path) -> int:
    model.save_pretrained(str(path))
    return folder_bytes(path)


def load(backbone: nn.Module, path: Path) -> nn.Module:
    from peft import PeftModel

    require_folder(path)
    return PeftModel.from_pretrained(backbone, str(path))
