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
_ids = torch.randint(3, 64, (3, 7), generator=torch.Generator().manual_seed(1))
BATCH = {"input_ids": _ids, "attention_mask": torch.ones_like(_ids), "labels": torch.tensor([[5, 1], [6, 1], [5, 1]])}


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


# ------------------------------------------------------------------ notebook 06's pairs

def _max_differences(scratch, library, batch, scratch_names, library_names):
    """(max logit difference, max gradient difference) of two models on the same batch."""
    logits = (_logits(scratch, batch) - _logits(library, batch)).abs().max().item()
    grads = [(a.flatten() - b.flatten()).abs().max().item() for a, b in zip(_grads_after_step(scratch, batch, scratch_names),
                                                        _grads_after_step(library, batch, library_names))]
    return logits, max(grads)


def _t5(layers):
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    return T5ForConditionalGeneration(T5Config(
        vocab_size=64, d_model=32, d_kv=8, d_ff=64, num_layers=layers, num_decoder_layers=layers, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.1, feed_forward_proj="relu", tie_word_embeddings=True,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()


def _prefix_pair(layers):
    """Scratch PrefixT5 and PEFT prefix tuning with the same random prefix, placed where PEFT reads
    it: decoder layer i takes PEFT's key/value pair (2 i mod layers)."""
    from peft import get_peft_model

    from helpers.methods.prefix import PrefixT5
    from helpers.methods.via_peft import prefix_config

    base = _t5(layers)
    scratch = PrefixT5(copy.deepcopy(base), torch.zeros(5, layers, 2, 4, 8)).eval()
    library = get_peft_model(copy.deepcopy(base), prefix_config(5)).eval()
    (name, weight), = [(n, p) for n, p in library.named_parameters() if p.requires_grad]
    assert weight.numel() == scratch.prefix.numel() == 5 * layers * 2 * 32   # n x layers x (k, v) x heads*d_kv
    _randomise([scratch.prefix])
    pairs = weight.view(5, layers, 2, 4, 8)                                    # PEFT's (n, layer pair, k/v, heads, d)
    with torch.no_grad():
        for layer in range(layers):
            pairs[:, (2 * layer) % layers] = scratch.prefix[:, layer]
    return base, scratch, library, name, weight


def test_prefix_matches_peft_prefix_tuning_up_to_its_layer_order():
    base, scratch, library, name, weight = _prefix_pair(layers=3)   # odd: PEFT's order is a permutation
    logits = (_logits(scratch, BATCH) - _logits(library, BATCH)).abs().max().item()
    assert logits < 1e-5
    (g_scratch,) = _grads_after_step(scratch, BATCH, ["prefix"])
    (g_library,) = _grads_after_step(library, BATCH, [name])
    for layer in range(3):
        difference = (g_scratch[:, layer] - g_library.view(5, 3, 2, 4, 8)[:, (2 * layer) % 3]).abs().max()
        assert difference < 1e-5
    # The prefix reaches the decoder only: the encoder's output is the base model's.
    encode = dict(input_ids=BATCH["input_ids"], attention_mask=BATCH["attention_mask"])
    assert torch.equal(scratch.backbone.get_encoder()(**encode).last_hidden_state,
                       base.get_encoder()(**encode).last_hidden_state)
    assert not torch.allclose(_logits(scratch, BATCH), _logits(base, BATCH), atol=1e-3)
    # Greedy generation reads what the forward pass scores. (PEFT's own generate does not here:
    # its first step puts the query at position 0 although n prefix positions precede it.)
    generated = scratch.generate(**encode, max_new_tokens=3)
    with torch.no_grad():
        for step in range(1, generated.size(1)):
            logits = scratch(**encode, decoder_input_ids=generated[:, :step]).logits[:, -1]
            running = ~(generated[:, 1:step] == 1).any(-1)   # rows that have not produced </s> yet
            assert torch.equal(logits.argmax(-1)[running], generated[running, step])


def test_peft_prefix_leaves_half_its_pairs_unused_with_an_even_layer_count():
    """peft 0.21.2 on T5 with 2 layers: both decoder layers read pair 0; pair 1 gets no gradient."""
    _, _, library, name, weight = _prefix_pair(layers=2)
    library.zero_grad()
    library(**BATCH).loss.backward()
    per_pair = weight.grad.view(5, 2, -1).abs().sum((0, 2))
    assert per_pair[0] > 0 and per_pair[1] == 0


def test_ia3_matches_peft_ia3(small_t5, batch):
    from peft import get_peft_model

    from helpers.methods.ia3 import add_ia3
    from helpers.methods.via_peft import ia3_config

    scratch = add_ia3(copy.deepcopy(small_t5)).eval()
    library = get_peft_model(copy.deepcopy(small_t5), ia3_config()).eval()
    assert torch.equal(_logits(scratch, batch), _logits(small_t5, batch))   # ones: unchanged at init
    pairs = [(n, f"base_model.model.{n.removesuffix('.scale')}.ia3_l.default") for n, p in scratch.named_parameters()
             if p.requires_grad]
    library_params = dict(library.named_parameters())
    assert {b for _, b in pairs} == {n for n, p in library.named_parameters() if p.requires_grad}
    assert len(pairs) == 6 * 2 + 4                                          # k, v of 6 attention modules; 4 x wo
    _randomise([dict(scratch.named_parameters())[a] for a, _ in pairs])
    with torch.no_grad():
        for a, b in pairs:
            library_params[b].copy_(dict(scratch.named_parameters())[a].reshape(library_params[b].shape))
    logits, grads = _max_differences(scratch, library, batch, [a for a, _ in pairs], [b for _, b in pairs])
    assert logits < 1e-6 and grads < 1e-5


def test_bitfit_matches_opendelta_bitfit(small_t5, batch):
    from helpers.methods.bitfit import add_bitfit
    from helpers.methods.via_opendelta import bitfit_model

    scratch = add_bitfit(copy.deepcopy(small_t5)).eval()
    library = bitfit_model(copy.deepcopy(small_t5)).eval()                    # crashes on T5 without the shim
    assert torch.equal(_logits(scratch, batch), _logits(small_t5, batch))   # zero biases: unchanged at init
    assert torch.equal(_logits(library, batch), _logits(small_t5, batch))
    names = [n for n, p in scratch.named_parameters() if p.requires_grad]
    library_names = [f"backbone.{n}" for n in names]
    assert library_names == [n for n, p in library.named_parameters() if p.requires_grad]
    assert len(names) == 6 * 4 + 4 * 2                                       # q, k, v, o of 6 attention modules; wi, wo
    _randomise([dict(scratch.named_parameters())[n] for n in names])
    with torch.no_grad():
        for a, b in zip(names, library_names):
            dict(library.named_parameters())[b].copy_(dict(scratch.named_parameters())[a])
    logits, grads = _max_differences(scratch, library, batch, names, library_names)
    assert logits == 0.0 and grads == 0.0
