"""The graded items of notebooks 02, 03 and 05, with their points (the course's 25, 25 and 30),
each one check of helpers.teaching.checks on the student's definitions."""
from __future__ import annotations

import copy
import re
import warnings

import torch
from torch import nn

from helpers.teaching.checks import (Item, copy_into, expect, gradients, identity_at_init, learns, n_total, n_trainable,
                                     randomise, same_gradients, same_logits, sample_batch, small_t5, trainable)

# The course's weights (percent of the grade); 01, 04 and the report have no from-scratch code.
COURSE_WEIGHTS = {"01_full_finetuning": 5, "02_prompt_tuning": 25, "03_adapter": 25, "04_adapter_adapterhub": 5,
                  "05_lora": 30, "report": 15}
BY_HAND = {"01_full_finetuning": "no from-scratch code: graded by hand (it runs, its curves and numbers are discussed)",
           "04_adapter_adapterhub": "library calls only: graded by hand (it runs, scratch vs library discussed)",
           "report": "written report: graded by hand"}
CONFIGS = ((8, 1), (8, 4), (16, 4))   # (d_kv, size): d_kv 16 makes heads x d_kv differ from d_model


# ---- library twins, from the libraries alone ------------------------------------------------
def peft_prompt(backbone, n_tokens):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    # num_transformer_submodules=1: PEFT otherwise allocates 2 x n rows for seq2seq and uses n.
    return get_peft_model(backbone, PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=n_tokens,
                                                       num_transformer_submodules=1)).eval()


def seq_bn(backbone, bottleneck):
    import adapters
    from adapters import SeqBnConfig

    adapters.init(backbone)
    backbone.add_adapter("a", config=SeqBnConfig(reduction_factor=backbone.config.d_model / bottleneck,
                                                 non_linearity="relu", init_weights="mam_adapter"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone.train_adapter("a")
    return backbone.eval()


def peft_lora(backbone, rank):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(backbone, LoraConfig(r=rank, lora_alpha=8, lora_dropout=0.0, target_modules=["q", "v"])).eval()


TWINS = {"prompt": peft_prompt, "adapter": seq_bn, "lora": peft_lora}


def check_formula(method: str, name: str):
    def check(ns):
        for d_kv, size in CONFIGS:
            backbone = small_t5(d_kv)
            truth = n_trainable(TWINS[method](copy.deepcopy(backbone), size))
            given = ns[name](backbone.config, size)
            expect(given == truth, f"{name}(config, {size}) = {given!r}, the library trains {truth:,} "
                                   f"(d_model 32, heads x d_kv {4 * d_kv})")
    return check


def check_count(method: str, build):
    """The student's model trains exactly what the library twin trains, and nothing of T5."""
    def check(ns):
        for d_kv, size in CONFIGS:
            backbone = small_t5(d_kv)
            model = build(ns, copy.deepcopy(backbone), size)
            truth = n_trainable(TWINS[method](copy.deepcopy(backbone), size))
            expect(n_trainable(model) == truth, f"trains {n_trainable(model):,} parameters, the library {truth:,} (size {size})")
            added = n_total(model) - n_total(backbone)
            expect(added == truth, f"adds {added:,} parameters, of which {truth:,} should train: the backbone is not frozen")
    return check


def check_identity(build):
    """The student's freshly built model gives the backbone's logits (zero-initialised update)."""
    def check(ns):
        backbone = small_t5()
        identity_at_init(build(ns, copy.deepcopy(backbone), 4), backbone, sample_batch())
    return check


# ---- notebook 02: soft prompt -----------------------------------------------------------------
def _initial(n, d=32):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(9))


def build_prompt(ns, backbone, n):
    return ns["SoftPromptT5"](backbone, _initial(n, backbone.config.d_model))


def prompt_init(ns):
    embedding = nn.Embedding(6000, 8)
    special = [0, 1, 2, 5001]
    rows = ns["init_from_vocabulary"](embedding, 6, 3, special)
    expect(tuple(rows.shape) == (6, 8), f"shape {tuple(rows.shape)}, expected (n_tokens, d_model) = (6, 8)")
    expect(not rows.requires_grad, "the initial prompt is not detached from the embedding")
    ids = [(embedding.weight == row).all(-1).nonzero().flatten().tolist() for row in rows]
    expect(all(len(i) == 1 for i in ids), "rows are not copies of vocabulary embeddings")
    ids = [i[0] for i in ids]
    expect(len(set(ids)) == 6, f"token ids repeat: {ids}")
    expect(not set(ids) & set(special), f"special tokens sampled: {sorted(set(ids) & set(special))}")
    expect(max(ids) < 5000, f"token id {max(ids)} is not among the first COMMON_TOKENS = 5000")
    expect(torch.equal(rows, ns["init_from_vocabulary"](embedding, 6, 3, special)), "not reproducible for one seed")
    expect(not torch.equal(rows, ns["init_from_vocabulary"](embedding, 6, 4, special)), "the seed changes nothing")
    before = embedding.weight.detach().clone()
    rows.add_(1.0)
    expect(torch.equal(embedding.weight, before), "the prompt shares memory with the embedding")


def prompt_forward(ns):
    initial, batch = _initial(4), sample_batch()
    soft = ns["SoftPrompt"](initial)
    expect(isinstance(getattr(soft, "prompt", None), nn.Parameter), "SoftPrompt has no nn.Parameter `prompt`")
    embeds = torch.randn(3, 7, 32, generator=torch.Generator().manual_seed(2))
    out, mask = soft(embeds, batch["attention_mask"])
    expect(tuple(out.shape) == (3, 11, 32), f"embeddings of shape {tuple(out.shape)}, expected (3, 4 + 7, 32)")
    expect(torch.equal(out[:, :4], initial.expand(3, -1, -1)) and torch.equal(out[:, 4:], embeds),
           "embeddings are not [prompt; input]")
    expect(tuple(mask.shape) == (3, 11), f"attention mask of shape {tuple(mask.shape)}, expected (3, 4 + 7): "
                                         "extend it by the prompt")
    expect(torch.equal(mask[:, :4], torch.ones(3, 4, dtype=mask.dtype)) and torch.equal(mask[:, 4:], batch["attention_mask"]),
           "attention mask is not [ones; mask]")


def prompt_library(ns):
    backbone, batch = small_t5(), sample_batch()
    student = build_prompt(ns, copy.deepcopy(backbone), 4).eval()
    library = peft_prompt(copy.deepcopy(backbone), 4)
    ours = list(trainable(student).values())
    expect(len(ours) == 1, f"{len(ours)} trainable tensors, expected the prompt alone")
    theirs = library.prompt_encoder["default"].embedding.weight
    randomise(ours)
    copy_into(theirs, ours[0], "the prompt")
    same_logits(student, library, batch)
    same_gradients(gradients(student, batch, ours), gradients(library, batch, [theirs]))


def prompt_learns(ns):
    learns(build_prompt(ns, small_t5(), 4), sample_batch(), lr=0.3)


# ---- notebook 03: bottleneck adapter ------------------------------------------------------------
def build_adapter(ns, backbone, bottleneck):
    return ns["add_adapters"](backbone, bottleneck).eval()


def _adapter_key(name):
    match = re.search(r"(encoder|decoder)\.block\.(\d+)\..*?(down|up)\D*?(?:\.\d+)?\.(weight|bias)$", name)
    return match.groups() if match else None


def adapter_library(ns):
    backbone, batch = small_t5(), sample_batch()
    student = build_adapter(ns, copy.deepcopy(backbone), 4)
    library = seq_bn(copy.deepcopy(backbone), 4)
    ours = {_adapter_key(n): p for n, p in trainable(student).items()}
    theirs = {_adapter_key(n): p for n, p in trainable(library).items()}
    expect(None not in ours and set(ours) == set(theirs),
           f"adapter tensors {sorted(map(str, ours))[:2]}... do not match SeqBn's (block.N...adapter.down/up.weight/bias)")
    randomise(ours.values())
    for key, p in ours.items():
        copy_into(theirs[key], p, ".".join(key))
    # the adapters T5 code differs from plain T5 by ~2e-6 even without adapters
    same_logits(student, library, batch, atol=1e-5)
    keys = sorted(ours)
    same_gradients(gradients(student, batch, [ours[k] for k in keys]), gradients(library, batch, [theirs[k] for k in keys]))


def adapter_learns(ns):
    learns(build_adapter(ns, small_t5(), 4), sample_batch(), lr=1e-2)


# ---- notebook 05: LoRA --------------------------------------------------------------------------
def build_lora(ns, backbone, rank):
    return ns["add_lora"](backbone, rank=rank, alpha=8, dropout=0.0).eval()


def _lora_modules(model):
    return {name: module for name, module in model.named_modules() if hasattr(module, "lora_A") and hasattr(module, "lora_B")}


def lora_count(ns):
    check_count("lora", build_lora)(ns)
    names = [n for n in trainable(build_lora(ns, small_t5(), 4))]
    wrong = [n for n in names if not re.search(r"(SelfAttention|EncDecAttention)\.(q|v)\.", n)]
    expect(not wrong, f"trains {(wrong or [None])[0]}: LoRA belongs on q and v of the attention modules only")


def lora_library(ns):
    backbone, batch = small_t5(), sample_batch()
    student = build_lora(ns, copy.deepcopy(backbone), 4)
    library = peft_lora(copy.deepcopy(backbone), 4)
    ours = _lora_modules(student)
    theirs = {n.removeprefix("base_model.model."): m for n, m in library.named_modules() if n.endswith((".q", ".v"))}
    expect(set(ours) == set(theirs), f"wraps {len(ours)} modules, PEFT {len(theirs)} (q and v of every attention)")
    pairs = []
    for name, module in ours.items():
        pairs += [(module.lora_A, theirs[name].lora_A["default"].weight, f"{name}.lora_A"),
                  (module.lora_B, theirs[name].lora_B["default"].weight, f"{name}.lora_B")]
    randomise([a for a, _, _ in pairs])
    for a, b, what in pairs:
        copy_into(b, a, what)
    same_logits(student, library, batch)
    same_gradients(gradients(student, batch, [a for a, _, _ in pairs]), gradients(library, batch, [b for _, b, _ in pairs]))


def lora_merge(ns):
    backbone, batch = small_t5(), sample_batch()
    model = build_lora(ns, copy.deepcopy(backbone), 4)
    randomise(list(trainable(model).values()))
    with torch.no_grad():
        before = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       decoder_input_ids=torch.zeros((3, 1), dtype=torch.long)).logits
    merged = ns["merge_lora"](model)
    expect(merged is not None, "merge_lora returns None; return the model")
    expect(not _lora_modules(merged), f"{len(_lora_modules(merged))} LoRA layers left after merging")
    expect(n_total(merged) == n_total(backbone), f"{n_total(merged):,} parameters after merging, T5 has {n_total(backbone):,}")
    with torch.no_grad():
        after = merged(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       decoder_input_ids=torch.zeros((3, 1), dtype=torch.long)).logits
    difference = (before - after).abs().max().item()
    expect(difference <= 1e-5, f"merged logits differ from unmerged by {difference:.2e}")


def lora_learns(ns):
    learns(build_lora(ns, small_t5(), 4), sample_batch(), lr=1e-2)


PROMPT, ADAPTER, LORA = "02_prompt_tuning", "03_adapter", "05_lora"
ITEMS: tuple[Item, ...] = (
    Item("prompt.formula", PROMPT, 4, ("prompt_added",), check_formula("prompt", "prompt_added"),
         "prompt_added: exact count of PEFT prompt tuning's"),
    Item("prompt.init", PROMPT, 4, ("init_from_vocabulary",), prompt_init, "init: distinct real, non-special tokens, seeded"),
    Item("prompt.count", PROMPT, 3, ("SoftPromptT5",), check_count("prompt", build_prompt), "trains n x d_model, T5 frozen"),
    Item("prompt.forward", PROMPT, 5, ("SoftPrompt",), prompt_forward, "forward: [prompt; embeds], mask extended"),
    Item("prompt.library", PROMPT, 6, ("SoftPromptT5",), prompt_library, "same logits and gradients as PEFT prompt tuning"),
    Item("prompt.learns", PROMPT, 3, ("SoftPromptT5",), prompt_learns, "a short training run learns"),
    Item("adapter.formula", ADAPTER, 5, ("adapter_added",), check_formula("adapter", "adapter_added"),
         "adapter_added: exact count of AdapterHub SeqBn's"),
    Item("adapter.count", ADAPTER, 4, ("add_adapters",), check_count("adapter", build_adapter), "trains SeqBn's count, T5 frozen"),
    Item("adapter.identity", ADAPTER, 5, ("add_adapters",), check_identity(build_adapter), "identity at initialisation"),
    Item("adapter.library", ADAPTER, 7, ("add_adapters",), adapter_library, "same logits and gradients as AdapterHub SeqBn"),
    Item("adapter.learns", ADAPTER, 4, ("add_adapters",), adapter_learns, "a short training run learns"),
    Item("lora.formula", LORA, 5, ("lora_added",), check_formula("lora", "lora_added"), "lora_added: exact count of PEFT LoRA's"),
    Item("lora.count", LORA, 5, ("add_lora",), lora_count, "trains PEFT's count on q and v only, T5 frozen"),
    Item("lora.identity", LORA, 5, ("add_lora",), check_identity(build_lora), "identity at initialisation"),
    Item("lora.library", LORA, 7, ("add_lora",), lora_library, "same logits and gradients as PEFT LoRA"),
    Item("lora.merge", LORA, 4, ("add_lora", "merge_lora"), lora_merge, "merge: a plain T5 with the same logits"),
    Item("lora.learns", LORA, 4, ("add_lora",), lora_learns, "a short training run learns"),
)
