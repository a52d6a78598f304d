"""From a run id to a trainable model, and back from a weights file. The notebooks build their
models in plain sight with the same calls; the CLI, `make run-all`'s scripts and the tests come
through here, so every entry point builds a method the same way (a test compares them)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from helpers.methods import via_adapterhub, via_opendelta, via_peft
from helpers.methods.adapter import add_adapters
from helpers.methods.bitfit import add_bitfit
from helpers.methods.ia3 import add_ia3
from helpers.methods.inject import kept_in_place, train_last_blocks
from helpers.methods.lora import add_lora
from helpers.methods.prefix import PrefixT5, prefix_init
from helpers.methods.prompt import SoftPromptT5, prompt_init
from helpers.methods.weights import load_method_tensors, save_method_tensors
from helpers.study.paths import weights_dir
from helpers.study.runs import SIZE_KEYS, RunSpec


@dataclass(frozen=True)
class Implementation:
    build: Callable            # (backbone, tokenizer, settings, seed) -> model
    save: Callable | None      # (model, path, run, settings) -> bytes written
    load: Callable | None      # (backbone, tokenizer, settings, path) -> model with the saved weights
    weights_name: str | None   # file or folder under weights/<profile>/; may use {run_id}


def build_full(backbone, tokenizer, settings, seed):
    return backbone.requires_grad_(True)


def build_prompt(backbone, tokenizer, settings, seed):
    return SoftPromptT5(backbone, prompt_init(backbone, tokenizer, settings.n_tokens, seed))


def build_adapter(backbone, tokenizer, settings, seed):
    return add_adapters(backbone, settings.bottleneck)


def build_lora(backbone, tokenizer, settings, seed):
    return add_lora(backbone, rank=settings.rank, alpha=settings.lora_alpha, dropout=settings.lora_dropout)


def build_prefix(backbone, tokenizer, settings, seed):
    return PrefixT5(backbone, prefix_init(backbone, tokenizer, settings.n_tokens, seed))


def build_ia3(backbone, tokenizer, settings, seed):
    return add_ia3(backbone)


def build_bitfit(backbone, tokenizer, settings, seed):
    return add_bitfit(backbone)


def build_partial(backbone, tokenizer, settings, seed):
    return train_last_blocks(backbone, settings.trainable_blocks)


def build_peft_prefix(backbone, tokenizer, settings, seed):
    from peft import get_peft_model

    initial = prefix_init(backbone, tokenizer, settings.n_tokens, seed)   # before PEFT wraps the backbone
    model = get_peft_model(backbone, via_peft.prefix_config(settings.n_tokens))
    via_peft.set_initial_prefix(model, initial)
    return model


def build_peft_ia3(backbone, tokenizer, settings, seed):
    from peft import get_peft_model

    return get_peft_model(backbone, via_peft.ia3_config())


def build_opendelta_bitfit(backbone, tokenizer, settings, seed):
    return via_opendelta.bitfit_model(backbone)


def build_opendelta_prompt(backbone, tokenizer, settings, seed):
    initial = prompt_init(backbone, tokenizer, settings.n_tokens, seed)
    return via_opendelta.soft_prompt_model(backbone, settings.n_tokens, initial)


def build_adapterhub_adapter(backbone, tokenizer, settings, seed):
    import adapters

    with kept_in_place(backbone):   # `adapters` creates its modules on the CPU
        adapters.init(backbone)
        backbone.add_adapter(via_adapterhub.ADAPTER_NAME,
                             config=via_adapterhub.seq_bn_config(backbone.config.d_model, settings.bottleneck))
    return via_adapterhub.train_adapter(backbone)


def build_peft_lora(backbone, tokenizer, settings, seed):
    from peft import LoraConfig, TaskType, get_peft_model

    return get_peft_model(backbone, LoraConfig(task_type=TaskType.SEQ_2_SEQ_LM, r=settings.rank,
                                               lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                                               target_modules=via_peft.LORA_MODULES))


def _scratch(method: str, build: Callable, weights_name: str) -> Implementation:
    def save(model, path, run, settings):
        return save_method_tensors(path, model, method=method, size=settings.method_size(run), run_id=run.run_id,
                                   extra={"lora_alpha": settings.lora_alpha} if method == "lora" else None)

    def load(backbone, tokenizer, settings, path):
        model = build(backbone, tokenizer, settings, seed=0)
        size = getattr(settings, SIZE_KEYS[method]) if method in SIZE_KEYS else 0
        load_method_tensors(path, model, method=method, size=size)
        return model

    return Implementation(build, save, load, weights_name)


def _library(build: Callable, load: Callable, module) -> Implementation:
    """A library run: saved the library's own way, into a folder named after the run."""
    return Implementation(build, lambda model, path, run, settings: module.save(model, path), load, "{run_id}")


def load_opendelta_prompt(backbone, tokenizer, settings, path):
    return via_opendelta.load(build_opendelta_prompt(backbone, tokenizer, settings, seed=0), path)


def load_opendelta_bitfit(backbone, tokenizer, settings, path):
    return via_opendelta.load(build_opendelta_bitfit(backbone, tokenizer, settings, seed=0), path)


def load_adapterhub_adapter(backbone, tokenizer, settings, path):
    return via_adapterhub.load(backbone, path)


def load_peft(backbone, tokenizer, settings, path):
    return via_peft.load(backbone, path)   # the folder's adapter_config.json names the method


IMPLEMENTATIONS: dict[tuple[str, str], Implementation] = {
    ("full", "transformers"): Implementation(build_full, None, None, None),
    ("prompt", "scratch"): _scratch("prompt", build_prompt, "prompts.pt"),
    ("adapter", "scratch"): _scratch("adapter", build_adapter, "adapter.pt"),
    ("lora", "scratch"): _scratch("lora", build_lora, "lora.pt"),
    ("prompt", "opendelta"): _library(build_opendelta_prompt, load_opendelta_prompt, via_opendelta),
    ("adapter", "adapterhub"): _library(build_adapterhub_adapter, load_adapterhub_adapter, via_adapterhub),
    ("lora", "peft"): _library(build_peft_lora, load_peft, via_peft),
    # notebook 06
    ("prefix", "scratch"): _scratch("prefix", build_prefix, "prefix.pt"),
    ("ia3", "scratch"): _scratch("ia3", build_ia3, "ia3.pt"),
    ("bitfit", "scratch"): _scratch("bitfit", build_bitfit, "bitfit.pt"),
    ("partial", "transformers"): Implementation(build_partial, None, None, None),
    ("prefix", "peft"): _library(build_peft_prefix, load_peft, via_peft),
    ("ia3", "peft"): _library(build_peft_ia3, load_peft, via_peft),
    ("bitfit", "opendelta"): _library(build_opendelta_bitfit, load_opendelta_bitfit, via_opendelta),
}


def implementation(run: RunSpec) -> Implementation:
    return IMPLEMENTATIONS[(run.method, run.implementation)]


def build_model(run: RunSpec, backbone, tokenizer, settings, seed: int):
    return implementation(run).build(backbone, tokenizer, settings, seed)


def weights_path(run: RunSpec, profile: str, model: str | None = None) -> Path | None:
    name = run.weights_file or implementation(run).weights_name
    return weights_dir(profile, model) / name.format(run_id=run.run_id) if name else None


def save_weights(run: RunSpec, model, settings) -> tuple[Path | None, int]:
    impl = implementation(run)
    if impl.save is None:
        return None, 0
    path = weights_path(run, settings.profile, settings.model)
    path.parent.mkdir(parents=True, exist_ok=True)   # adapters' save_adapter makes only the last folder
    return path, impl.save(model, path, run, settings)


def load_weights(run: RunSpec, backbone, tokenizer, settings, path: Path | None = None):
    impl = implementation(run)
    if impl.load is None:
        raise ValueError(f"{run.run_id} saves no separate weights")
    return impl.load(backbone, tokenizer, settings, path or weights_path(run, settings.profile, settings.model))
