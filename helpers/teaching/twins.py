"""The grader's references, built in its own process from the libraries alone (never from helpers'
solutions): PEFT prompt tuning, AdapterHub SeqBn, PEFT LoRA, on the drawn backbones. And the map
from a model's method tensors to places (block, module, role), by the contracts the handout's
docstrings state, so that a student's tensors find their library twins whatever they are called."""
from __future__ import annotations

import re

from helpers.methods.via_adapterhub import train_adapter
from helpers.teaching.checks import Failed

LORA_ALPHA = 8


def peft_prompt(backbone, n_tokens):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    # num_transformer_submodules=1: PEFT otherwise allocates 2 x n rows for seq2seq and uses n.
    return get_peft_model(backbone, PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=n_tokens,
                                                       num_transformer_submodules=1)).eval()


def seq_bn(backbone, bottleneck):
    import adapters
    from adapters import SeqBnConfig

    adapters.init(backbone)
    # SeqBn's width is d_model // reduction_factor in floats: d / (b + 0.5) gives exactly b for any
    # d (d / b can land a hair under b, e.g. 10 / (10 / 3) -> 2.9999).
    backbone.add_adapter("a", config=SeqBnConfig(reduction_factor=backbone.config.d_model / (bottleneck + 0.5),
                                                 non_linearity="relu", init_weights="mam_adapter"))
    return train_adapter(backbone, "a").eval()   # without adapters' "none are activated" false alarm


def peft_lora(backbone, rank):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(backbone, LoraConfig(r=rank, lora_alpha=LORA_ALPHA, lora_dropout=0.0,
                                               target_modules=["q", "v"])).eval()


TWINS = {"prompt": peft_prompt, "adapter": seq_bn, "lora": peft_lora}
LIBRARY = {"prompt": "PEFT prompt tuning", "adapter": "AdapterHub's SeqBn", "lora": "PEFT LoRA"}

# Tensors only T5 itself has (embedding, norms, position biases): trained, they mean it is not frozen.
T5_OWN = re.compile(r"(?:^|\.)(?:shared|embed_tokens|layer_norm|final_layer_norm|relative_attention_bias)\.weight$")
BLOCK = re.compile(r"(?:^|\.)((?:encoder|decoder)\.block\.\d+)\.")
LORA_PLACE = re.compile(r"^(?:base_model\.model\.)?(.*(?:SelfAttention|EncDecAttention)\.(?:q|v))\.")
ATTENTION_LINEAR = re.compile(r"^(?:base_model\.model\.)?(.*(?:SelfAttention|EncDecAttention)\.([a-z]+))\.")


def _more(names: list[str]) -> str:
    return f"{names[0]}" + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")


def method_places(method: str, shapes: dict[str, tuple], config: dict, size: int) -> dict[tuple, str]:
    """{(place, role): tensor name} for a model's trainable tensors {name: shape}; Failed, naming
    the broken contract, where they are not the method's tensors."""
    d, inner = config["d_model"], config["num_heads"] * config["d_kv"]
    backbone = sorted(n for n in shapes if T5_OWN.search(n))
    if backbone:
        raise Failed(f"the backbone trains too ({_more(backbone)}): freeze it before adding the method")
    if method == "prompt":
        expect_only = [n for n, s in shapes.items() if tuple(s) != (size, d)]
        if len(shapes) != 1 or expect_only:
            raise Failed(f"trains {len(shapes)} tensors ({_more(sorted(shapes)) if shapes else 'none'}), expected the "
                         f"prompt alone, one tensor of n_tokens x d_model = {size} x {d}")
        return {("prompt", "prompt"): next(iter(shapes))}
    if method == "adapter":
        roles = {(size, d): "down.weight", (size,): "down.bias", (d, size): "up.weight", (d,): "up.bias"}
        place_of = BLOCK
        contract = ("keep each adapter inside the block it adapts, as down (bottleneck x d_model weight, bias) and "
                    "up (d_model x bottleneck weight, bias)")
    else:
        wrong = sorted({m.group(1) for m in map(ATTENTION_LINEAR.search, shapes) if m and m.group(2) not in ("q", "v")})
        if wrong:
            raise Failed(f"LoRA on {_more(wrong)}: it belongs on q and v of the attention modules only")
        roles = {(size, d): "A", (inner, size): "B"}
        place_of = LORA_PLACE
        contract = ("LoRA sits on q and v only, each with lora_A of shape (rank, in_features) and lora_B of shape "
                    "(out_features, rank), as nn.Parameters or as the weights of bias-free nn.Linear modules")
    places, stray = {}, []
    for name, shape in shapes.items():
        place, role = place_of.search(name), roles.get(tuple(shape))
        if not place or not role or (place.group(1), role) in places:
            stray.append(f"{name} {tuple(shape)}")
            continue
        places[(place.group(1), role)] = name
    if stray:
        raise Failed(f"trains {_more(stray)}, which is not one of the method's tensors: {contract}")
    return places


def same_places(method: str, student: dict[tuple, str], twin: dict[tuple, str]) -> None:
    """Where the student's method sits against the library's, said in the modules' names."""
    what = {"adapter": "an adapter", "lora": "LoRA", "prompt": "the prompt"}[method]
    ours, theirs = {p for p, _ in student}, {p for p, _ in twin}
    if theirs - ours:
        where = ("q and v of every attention module (encoder self-, decoder self- and cross-attention)" if method == "lora"
                 else "every encoder and decoder block")
        raise Failed(f"no {what} in {_more(sorted(theirs - ours))}: {where} needs one")
    if ours - theirs:
        raise Failed(f"{what} in {_more(sorted(ours - theirs))}, where {LIBRARY[method]} has none")
    half = sorted(p for p in ours if sum(1 for q, _ in student if q == p) != sum(1 for q, _ in twin if q == p))
    if half:
        raise Failed(f"{_more(half)} lacks some of its tensors (found {sorted(r for q, r in student if q == half[0])})")
