"""From a run id to a trainable model, and back from a weights file: one registry that the CLI,
the notebooks and the tests share, so every entry point builds a method the same way."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .methods.adapter import add_adapters
from .methods.lora import add_lora
from .methods.prompt import SoftPromptT5, init_from_vocabulary
from .paths import weights_dir
from .runs import RunSpec
from .weights import load_method_tensors, save_method_tensors


def prompt_init(backbone, tokenizer, settings, seed: int):
    return init_from_vocabulary(backbone.get_input_embeddings(), settings.n_tokens, seed, tokenizer.all_special_ids)


@dataclass(frozen=True)
class Implementation:
    build: Callable          # (backbone, tokenizer, settings, seed) -> model
    save: Callable | None    # (model, path, run, settings) -> bytes written
    load: Callable | None    # (backbone, tokenizer, settings, path) -> model with the saved weights
    weights_name: str | None   # file or folder under weights/<profile>/; may use {run_id}


def _build_full(backbone, tokenizer, settings, seed):
    backbone.requires_grad_(True)
    return backbone


def _build_prompt(backbone, tokenizer, settings, seed):
    return SoftPromptT5(backbone, prompt_init(backbone, tokenizer, settings, seed))


def _build_adapter(backbone, tokenizer, settings, seed):
    return add_adapters(backbone, settings.bottleneck)


def _build_lora(backbone, tokenizer, settings, seed):
    return add_lora(backbone, settings.rank, settings.lora_alpha, settings.lora_dropout)


def _scratch(method: str, build: Callable, weights_name: str) -> Implementation:
    def save(model, path, run, settings):
        return save_method_tensors(path, model, method=method, size=settings.method_size(run), run_id=run.run_id,
                                   extra={"lora_alpha": settings.lora_alpha} if method == "lora" else None)

    def load(backbone, tokenizer, settings, path):
        model = build(backbone, tokenizer, settings, seed=0)
        size = {"prompt": settings.n_tokens, "adapter": settings.bottleneck, "lora": settings.rank}[method]
        load_method_tensors(path, model, method=method, size=size)
        return model

    return Implementation(build, save, load, weights_name)


def _library(name: str) -> Implementation:
    from .methods import libraries
    return getattr(libraries, name)


IMPLEMENTATIONS: dict[tuple[str, str], Callable[[], Implementation]] = {
    ("full", "transformers"): lambda: Implementation(_build_full, None, None, None),
    ("prompt", "scratch"): lambda: _scratch("prompt", _build_prompt, "prompts.pt"),
    ("adapter", "scratch"): lambda: _scratch("adapter", _build_adapter, "adapter.pt"),
    ("lora", "scratch"): lambda: _scratch("lora", _build_lora, "lora.pt"),
    ("prompt", "opendelta"): lambda: _library("OPENDELTA_PROMPT"),
    ("adapter", "adapterhub"): lambda: _library("ADAPTERHUB_ADAPTER"),
    ("lora", "peft"): lambda: _library("PEFT_LORA"),
}


def implementation(run: RunSpec) -> Implementation:
    return IMPLEMENTATIONS[(run.method, run.implementation)]()


def build_model(run: RunSpec, backbone, tokenizer, settings, seed: int):
    return implementation(run).build(backbone, tokenizer, settings, seed)


def weights_path(run: RunSpec, profile: str) -> Path | None:
    name = implementation(run).weights_name
    return weights_dir(profile) / name.format(run_id=run.run_id) if name else None


def save_weights(run: RunSpec, model, settings) -> tuple[Path | None, int]:
    impl = implementation(run)
    if impl.save is None:
        return None, 0
    path = weights_path(run, settings.profile)
    return path, impl.save(model, path, run, settings)


def load_weights(run: RunSpec, backbone, tokenizer, settings, path: Path | None = None):
    impl = implementation(run)
    if impl.load is None:
        raise ValueError(f"{run.run_id} saves no separate weights")
    return impl.load(backbone, tokenizer, settings, path or weights_path(run, settings.profile))
