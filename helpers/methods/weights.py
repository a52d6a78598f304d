"""Weight files. The from-scratch methods write only the method's tensors, with the metadata needed
to refuse a file that does not fit the model (method, size, backbone shape, tensor shapes); they
load with torch.load(weights_only=True), so no pickled code runs on load. The library runs save
folders the library's own way; the checks those share are at the end."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from helpers import UserError

FORMAT = "peft-study-weights/1"


def backbone_signature(config) -> dict:
    return {"d_model": config.d_model, "vocab_size": config.vocab_size,
            "num_layers": config.num_layers, "num_decoder_layers": config.num_decoder_layers}


def save_method_tensors(path: Path, model, *, method: str, size: int, run_id: str, extra: dict | None = None) -> int:
    """Write the trainable tensors of `model`; returns the file size in bytes."""
    tensors = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
    payload = {"format": FORMAT, "method": method, "size": size, "run_id": run_id,
               "backbone": backbone_signature(model.config),
               "shapes": {n: list(t.shape) for n, t in tensors.items()},
               "extra": extra or {}, "tensors": tensors}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path.stat().st_size


def read_method_tensors(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist; train the run first (python -m helpers run ...)")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:   # truncated zip, random bytes, a pickle with code in it, ...
        raise UserError(f"weights file {path} is unreadable ({type(error).__name__}): truncated or not a "
                        "torch file; re-run the training run to write it again") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"weights file {path} is not a weights file of this project (format {FORMAT} expected); "
                        "pass a file written by `python -m helpers run`")
    return payload


def load_method_tensors(path: Path, model, *, method: str, size: int) -> dict:
    """Copy the file's tensors into `model` (already built with the method), refusing mismatches."""
    payload = read_method_tensors(path)
    if payload["method"] != method or payload["size"] != size:
        raise UserError(f"weights file {path} holds {payload['method']} of size {payload['size']}, but the model has "
                        f"{method} of size {size}; build the model with the file's size or load the matching file")
    expected = backbone_signature(model.config)
    if payload["backbone"] != expected:
        raise UserError(f"weights file {path} was trained on backbone {payload['backbone']}, not {expected}; "
                        "load it into the same profile's model")
    parameters = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(parameters) != set(payload["tensors"]):
        missing = sorted(set(parameters) ^ set(payload["tensors"]))[:3]
        raise UserError(f"weights file {path} does not match the model's method tensors (e.g. {missing}); "
                        "it was saved from a different method layout")
    with torch.no_grad():
        for name, parameter in parameters.items():
            value = payload["tensors"][name]
            if tuple(value.shape) != tuple(parameter.shape):
                raise UserError(f"weights file {path}: {name} has shape {tuple(value.shape)}, the model expects "
                                f"{tuple(parameter.shape)}")
            parameter.copy_(value)
    return payload


# ------------------------------------------------------------------------------ library folders

def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def require_folder(path: Path) -> None:
    if not Path(path).is_dir():
        raise UserError(f"library weights folder {path} does not exist; train the run first")


def copy_matching(model: torch.nn.Module, state: dict, path) -> None:
    """Copy `state` into the parameters of the same names, refusing unknown names and shapes."""
    parameters = dict(model.named_parameters())
    unknown = [n for n in state if n not in parameters]
    if unknown:
        raise UserError(f"weights in {path} do not fit this model (e.g. {unknown[0]}); load them into the run they came from")
    with torch.no_grad():
        for name, value in state.items():
            if parameters[name].shape != value.shape:
                raise UserError(f"weights in {path}: {name} has shape {tuple(value.shape)}, the model expects "
                                f"{tuple(parameters[name].shape)}")
            parameters[name].copy_(value)
