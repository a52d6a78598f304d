"""Composing trained modules with arithmetic (Zhang et al., NeurIPS 2023), on the saved files.

    addition:  delta W = delta W_a + delta W_b     (LoRA: the two updates side by side, rank r_a + r_b)
    negation:  LoRA  B -> -B, so delta W -> -delta W;   (IA)^3  l -> 2 - l, so (l - 1) -> -(l - 1)

From scratch, an update is read from a weights file (lora.pt, ia3.pt, or a PEFT folder) and folded
into a fresh backbone's weights, which leaves a plain T5. The libraries' own operations are here
too, with the pitfalls measured on this stack (LIBRARY_NOTES): PEFT's `add_weighted_adapter` adds
updates exactly only with combination_type="cat" ("linear" mixes the A's and the B's separately,
which adds the cross terms B_a A_b + B_b A_a); `adapters`' `average_adapter` divides the weights by
their sum unless normalize_weights=False, so a weight of -1 silently becomes +1, and its exact merge
("lora_delta_w_svd") drops each module's alpha / r (see adapters_svd_weights).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from helpers import UserError
from helpers.methods.weights import read_method_tensors


@dataclass
class LoRAUpdate:
    """delta W = scaling * B @ A for every wrapped linear, by its module path in a plain T5."""
    A: dict[str, torch.Tensor]   # (r, d_in)
    B: dict[str, torch.Tensor]   # (d_out, r)
    scaling: float

    def delta(self, path: str) -> torch.Tensor:
        return self.scaling * self.B[path] @ self.A[path]

    @property
    def rank(self) -> int:
        return next(iter(self.A.values())).shape[0]


def read_lora(path: str | Path) -> LoRAUpdate:
    """A LoRA update from a scratch weights file (lora.pt) or a PEFT folder (adapter_config.json)."""
    path = Path(path)
    if path.is_dir():
        return _read_peft_lora(path)
    payload = read_method_tensors(path)
    if payload["method"] != "lora":
        raise UserError(f"{path} holds {payload['method']}, not LoRA; pass a lora.pt or a PEFT LoRA folder")
    tensors = payload["tensors"]
    A = {n.removesuffix(".lora_A"): t for n, t in tensors.items() if n.endswith(".lora_A")}
    B = {n.removesuffix(".lora_B"): t for n, t in tensors.items() if n.endswith(".lora_B")}
    return LoRAUpdate(A, B, payload["extra"]["lora_alpha"] / payload["size"])


def _read_peft_lora(folder: Path) -> LoRAUpdate:
    from safetensors.torch import load_file

    config_file, weights_file = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not config_file.is_file() or not weights_file.is_file():
        raise UserError(f"{folder} is not a PEFT adapter folder (adapter_config.json, adapter_model.safetensors)")
    config = json.loads(config_file.read_text())
    if config.get("peft_type") != "LORA":
        raise UserError(f"{folder} holds a {config.get('peft_type')} adapter, not LoRA")
    tensors = load_file(weights_file)

    def path(name, kind):
        return name.removeprefix("base_model.model.").removesuffix(f".lora_{kind}.weight")

    A = {path(n, "A"): t for n, t in tensors.items() if n.endswith(".lora_A.weight")}
    B = {path(n, "B"): t for n, t in tensors.items() if n.endswith(".lora_B.weight")}
    return LoRAUpdate(A, B, config["lora_alpha"] / config["r"])


def add(a: LoRAUpdate, b: LoRAUpdate) -> LoRAUpdate:
    """Exactly delta W_a + delta W_b: A stacked, B side by side, each scaling folded into its B."""
    if set(a.A) != set(b.A):
        raise UserError("the two LoRA modules wrap different linears; add modules of the same placement")
    return LoRAUpdate({p: torch.cat([a.A[p], b.A[p]]) for p in a.A},                     # (r_a + r_b, d_in)
                      {p: torch.cat([a.scaling * a.B[p], b.scaling * b.B[p]], dim=1) for p in a.B},   # (d_out, r_a + r_b)
                      1.0)


def negate(update: LoRAUpdate) -> LoRAUpdate:
    return LoRAUpdate(dict(update.A), {p: -b for p, b in update.B.items()}, update.scaling)


def merge_into(backbone: nn.Module, update: LoRAUpdate) -> nn.Module:
    """W += delta W in every wrapped linear of a plain T5 (in place); returns it. The update is
    read from a file (on the CPU): it moves to the weight's device and dtype before the sum."""
    with torch.no_grad():
        for path in update.A:
            linear = backbone.get_submodule(path)
            linear.weight += update.delta(path).to(linear.weight.device, linear.weight.dtype)
    return backbone


# ------------------------------------------------------------------------------ (IA)^3

def read_ia3(path: str | Path) -> dict[str, torch.Tensor]:
    """The (IA)^3 scales of a scratch weights file (ia3.pt), by the wrapped linear's path."""
    payload = read_method_tensors(path)
    if payload["method"] != "ia3":
        raise UserError(f"{path} holds {payload['method']}, not (IA)^3; pass an ia3.pt")
    return {n.removesuffix(".scale"): t for n, t in payload["tensors"].items()}


def negate_ia3(scales: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """l -> 2 - l: the change from the identity (l - 1) changes sign."""
    return {path: 2 - scale for path, scale in scales.items()}


def merge_ia3_into(backbone: nn.Module, scales: dict[str, torch.Tensor]) -> nn.Module:
    """Fold the scales into the frozen weights: rows for k and v (outputs), columns for wo (inputs).
    The scales (read from a file, on the CPU) move to the weight's device and dtype first."""
    with torch.no_grad():
        for path, scale in scales.items():
            linear = backbone.get_submodule(path)
            scale = scale.to(linear.weight.device, linear.weight.dtype)
            if path.endswith("wo"):
                linear.weight *= scale[None, :]
            else:
                linear.weight *= scale[:, None]
    return backbone


# ------------------------------------------------------------------------------ the libraries

def as_peft(backbone: nn.Module, updates: dict[str, LoRAUpdate]):
    """A PeftModel holding each update as a named LoRA adapter (the same tensors, PEFT's layers)."""
    from peft import LoraConfig, get_peft_model

    model = None
    for name, update in updates.items():
        config = LoraConfig(r=update.rank, lora_alpha=update.scaling * update.rank, target_modules=["q", "v"],
                            lora_dropout=0.0)
        if model is None:
            model = get_peft_model(backbone, config, adapter_name=name)
        else:
            model.add_adapter(name, config)
        _copy_lora(model, name, update, "{path}.lora_{kind}.{name}.weight", prefix="base_model.model.")
    return model


def as_adapters(backbone: nn.Module, updates: dict[str, LoRAUpdate]) -> nn.Module:
    """The backbone with each update as a named `adapters` LoRA module on the same linears."""
    import adapters
    from adapters import LoRAConfig

    from helpers.methods import via_adapterhub  # noqa: F401  (its filters of adapters' false alarms)

    adapters.init(backbone)
    for name, update in updates.items():
        backbone.add_adapter(name, config=LoRAConfig(r=update.rank, alpha=update.scaling * update.rank,
                                                     attn_matrices=["q", "v"], selfattn_lora=True,
                                                     intermediate_lora=False, output_lora=False, dropout=0.0))
        _copy_lora(backbone, name, update, "{path}.loras.{name}.lora_{kind}")
    return backbone


def adapters_svd_weights(updates: list[LoRAUpdate], svd_rank: int, weights=None) -> list[float]:
    """Weights for `average_adapter(..., combine_strategy="lora_delta_w_svd", normalize_weights=False)`
    that give sum_i w_i delta W_i exactly. That strategy sums B_i A_i without each module's scaling
    alpha_i / r_i, then applies the merged module's alpha_1 / svd_rank; each weight must carry the ratio."""
    merged_scaling = updates[0].scaling * updates[0].rank / svd_rank
    return [(w if weights else 1.0) * u.scaling / merged_scaling for u, w in zip(updates, weights or updates)]


def _copy_lora(model: nn.Module, name: str, update: LoRAUpdate, pattern: str, prefix: str = "") -> None:
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for path in update.A:
            for kind, tensor in (("A", update.A[path]), ("B", update.B[path])):
                parameters[prefix + pattern.format(path=path, kind=kind, name=name)].copy_(tensor)
