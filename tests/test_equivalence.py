"""Scratch implementations against the libraries: same weights in, same logits and gradients out.
Method tensors are randomised first (LoRA B and adapter up-projections start at zero, which
would make the comparison trivially the base model)."""
import copy
import re

import torch

from helpers.methods.adapter import add_adapters
from helpers.methods.lora import add_lora
from helpers.methods.prompt import SoftPromptT5

START = torch.zeros((3, 1), dtype=torch.long)


def _logits(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=START).logits


def _randomise(params, seed=5):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)


def _grads_after_step(model, batch, names):
    """Gradients of one training loss in eval mode: no dropout, so both sides see the same function."""
    model.zero_grad()
    model(**batch).loss.backward()
    parameters = dict(model.named_parameters())
    return [parameters[n].grad.clone() for n in names]


def test_lora_matches_peft_logits_and_gradients(small_t5, batch):
    from peft import LoraConfig, get_peft_model

    scratch = add_lora(copy.deepcopy(small_t5), rank=4, alpha=8, dropout=0.0).eval()
    library = get_peft_model(copy.deepcopy(small_t5), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                                 target_modules=["q", "v"])).eval()
    pairs = []
    for name, _ in scratch.named_parameters():
        match = re.fullmatch(r"(.*)\.lora_([AB])", name)
        if match:
            pairs.append((name, f"base_model.model.{match[1]}.lora_{match[2]}.default.weight"))
    assert len(pairs) == 2 * 12
    _randomise([dict(scratch.named_parameters())[a] for a, _ in pairs])
    library_params = dict(library.named_parameters())
    with torch.no_grad():
        for a, b in pairs:
            library_params[b].copy_(dict(scratch.named_parameters())[a])
    assert torch.equal(_logits(scratch, batch), _logits(library, batch))
    for g1, g2 in zip(_grads_after_step(scratch, batch, [a for a, _ in pairs]),
                      _grads_after_step(library, batch, [b for _, b in pairs])):
        # float32 rounding of sums whose terms are ~|g|max: the two orders of operations differ by
        # up to ~3e-7 here (measured; it depends on the BLAS kernels), a wrong scaling or init by ~|g|.
        assert torch.allclose(g1, g2, atol=1e-6 * g1.abs().max().item())


def _prompt(n, d):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(9))


def test_prompt_matches_opendelta_logits_and_gradients(small_t5, batch):
    from helpers.methods.via_opendelta import OpenDeltaPrompt, import_opendelta

    opendelta = import_opendelta()
    init = _prompt(4, small_t5.config.d_model)
    scratch = SoftPromptT5(copy.deepcopy(small_t5), init).eval()
    backbone = copy.deepcopy(small_t5)
    delta = opendelta.SoftPromptModel(backbone, soft_token_num=4, token_init=False)
    delta.freeze_module(exclude=["deltas"], set_state_dict=False)
    with torch.no_grad():
        delta.delta_modules[0].soft_embeds.copy_(init)
    library = OpenDeltaPrompt(backbone, delta).eval()
    mask_before = batch["attention_mask"].clone()
    assert torch.equal(_logits(scratch, batch), _logits(library, batch))
    assert torch.equal(batch["attention_mask"], mask_before)   # the wrapper kept OpenDelta off our mask
    library_name = [n for n, p in library.named_parameters() if p.requires_grad]
    assert len(library_name) == 1
    g1 = _grads_after_step(scratch, batch, ["soft_prompt.prompt"])[0]
    g2 = _grads_after_step(library, batch, library_name)[0]
    assert torch.allclose(g1, g2, atol=1e-7)


def test_prompt_matches_peft_prompt_tuning(small_t5, batch):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    init = _prompt(4, small_t5.config.d_model)
    scratch = SoftPromptT5(copy.deepcopy(small_t5), init).eval()
    # num_transformer_submodules=1: PEFT otherwise allocates 2 x n rows for seq2seq and uses n.
    config = PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=4, num_transformer_submodules=1)
    library = get_peft_model(copy.deepcopy(small_t5), config).eval()
    with torch.no_grad():
        library.prompt_encoder["default"].embedding.weight.copy_(init)
    assert torch.equal(_logits(scratch, batch), _logits(library, batch))


def _adapter_key(name):
    match = re.search(r"(encoder|decoder)\.block\.(\d+)\..*?(down|up)\D*?(?:\.\d+)?\.(weight|bias)$", name)
    return match.groups() if match else None


def test_adapter_matches_adapterhub_seqbn(small_t5, batch):
    import warnings

    import adapters
    from adapters import SeqBnConfig

    scratch = add_adapters(copy.deepcopy(small_t5), bottleneck=4).eval()
    library = copy.deepcopy(small_t5)
    adapters.init(library)
    library.add_adapter("a", config=SeqBnConfig(reduction_factor=32 / 4, non_linearity="relu", init_weights="mam_adapter"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        library.train_adapter("a")
    library.eval()
    scratch_params = {_adapter_key(n): p for n, p in scratch.named_parameters() if p.requires_grad}
    library_params = {_adapter_key(n): p for n, p in library.named_parameters() if p.requires_grad}
    assert None not in scratch_params and None not in library_params
    assert set(scratch_params) == set(library_params) and len(scratch_params) == 4 * 4   # 4 blocks x 4 tensors
    _randomise(scratch_params.values())
    with torch.no_grad():
        for key, p in scratch_params.items():
            library_params[key].copy_(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        difference = (_logits(scratch, batch) - _logits(library, batch)).abs().max().item()
        # the adapters T5 code differs from plain T5 by ~2e-6 even without adapters
        assert difference < 1e-5
        keys = sorted(scratch_params)
        names_s = {p: n for n, p in scratch.named_parameters()}
        names_l = {p: n for n, p in library.named_parameters()}
        g1 = _grads_after_step(scratch, batch, [names_s[scratch_params[k]] for k in keys])
        g2 = _grads_after_step(library, batch, [names_l[library_params[k]] for k in keys])
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-5)
