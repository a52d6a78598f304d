import copy

import pytest
import torch

from helpers import UserError
from helpers.methods.adapter import add_adapters
from helpers.methods.bitfit import add_bitfit
from helpers.methods.ia3 import add_ia3
from helpers.methods.prefix import PrefixT5, prefix_init
from helpers.methods.lora import LoRALinear, add_lora, merge_lora
from helpers.methods.prompt import SoftPromptT5, init_from_vocabulary
from helpers.methods.weights import load_method_tensors, save_method_tensors

START = torch.zeros((3, 1), dtype=torch.long)


def logits(model, batch):
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], decoder_input_ids=START).logits


def with_prompt(backbone, n=4):
    return SoftPromptT5(backbone, init_from_vocabulary(backbone.get_input_embeddings(), n, seed=0, special_ids=[0, 1, 2]))


def with_prefix(backbone, n=4):
    special = type("Tokenizer", (), {"all_special_ids": [0, 1, 2]})()
    return PrefixT5(backbone, prefix_init(backbone, special, n, seed=0))


BUILDERS = {
    "lora": lambda m: add_lora(m, rank=4, alpha=8, dropout=0.1),
    "adapter": lambda m: add_adapters(m, bottleneck=4),
    "prompt": with_prompt,
    "prefix": with_prefix,
    "ia3": add_ia3,
    "bitfit": add_bitfit,
}


@pytest.mark.parametrize("method", ["lora", "adapter", "ia3", "bitfit"])
def test_model_unchanged_at_initialisation(small_t5, batch, method):
    reference = logits(small_t5, batch)
    adapted = BUILDERS[method](copy.deepcopy(small_t5)).eval()
    assert torch.equal(logits(adapted, batch), reference)


def test_lora_wraps_only_q_and_v_of_all_attention(small_t5):
    model = add_lora(small_t5, rank=2, alpha=2)
    wrapped = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    # 2 encoder self-attn + 2 decoder self-attn + 2 cross-attn modules, q and v each
    assert len(wrapped) == 12 and all(n.endswith((".q", ".v")) for n in wrapped)
    assert not any("lm_head" in n for n in wrapped)


def test_prompt_init_uses_real_tokens_not_first_rows(small_t5):
    init = init_from_vocabulary(small_t5.get_input_embeddings(), 5, seed=0, special_ids=[0, 1, 2])
    rows = small_t5.get_input_embeddings().weight
    chosen = [int(torch.where((rows == r).all(-1))[0][0]) for r in init]
    assert len(set(chosen)) == 5 and min(chosen) >= 3


# Tensors that feed a zero-initialised one (LoRA's B, the adapters' up-projection) get exactly
# zero gradient on the first step; every other method tensor must get a non-zero one.
FED_BY_ZERO = ("lora_A", "adapter.down.")


@pytest.mark.parametrize("method", ["lora", "adapter", "prompt", "prefix", "ia3", "bitfit"])
def test_only_method_tensors_train_and_backbone_stays_bit_identical(small_t5, batch, method):
    model = BUILDERS[method](small_t5).train()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and frozen
    optimizer = torch.optim.AdamW(trainable.values(), lr=1e-2)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    model(**batch).loss.backward()
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)
    for name, parameter in trainable.items():
        first_step_zero = any(part in name for part in FED_BY_ZERO)
        assert parameter.grad is not None, name
        assert (parameter.grad.abs().sum() == 0) == first_step_zero, name
    optimizer.step()
    optimizer.zero_grad()
    model(**batch).loss.backward()   # the zero-initialised tensors have moved: now every tensor learns
    assert all(p.grad.abs().sum() > 0 for p in trainable.values())
    assert all(not torch.equal(before[n], p) for n, p in trainable.items() if not any(x in n for x in FED_BY_ZERO))
    for name, parameter in model.named_parameters():
        if name in frozen:
            assert torch.equal(parameter, frozen[name]), name


def _randomise(model):
    """Non-zero method tensors, so that a save/load or merge test is not trivially the base model."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.1)


@pytest.mark.parametrize("method", ["lora", "adapter", "prompt", "prefix", "ia3", "bitfit"])
def test_save_load_gives_identical_logits(small_t5, batch, tmp_path, method):
    trained = BUILDERS[method](copy.deepcopy(small_t5)).eval()
    _randomise(trained)
    size = 4
    path = tmp_path / f"{method}.pt"
    bytes_written = save_method_tensors(path, trained, method=method, size=size, run_id="test")
    assert bytes_written == path.stat().st_size
    payload = torch.load(path, weights_only=True)   # no pickled code needed
    assert set(payload["tensors"]) == {n for n, p in trained.named_parameters() if p.requires_grad}
    fresh = BUILDERS[method](copy.deepcopy(small_t5)).eval()
    load_method_tensors(path, fresh, method=method, size=size)
    assert torch.equal(logits(fresh, batch), logits(trained, batch))
    assert not torch.equal(logits(fresh, batch), logits(small_t5, batch))


def test_mismatched_loads_are_refused(small_t5, tmp_path):
    lora8 = add_lora(copy.deepcopy(small_t5), rank=4, alpha=8)
    path = tmp_path / "lora.pt"
    save_method_tensors(path, lora8, method="lora", size=4, run_id="test")
    with pytest.raises(UserError, match="holds lora of size 4, but the model has lora of size 2"):
        load_method_tensors(path, add_lora(copy.deepcopy(small_t5), rank=2, alpha=8), method="lora", size=2)
    with pytest.raises(UserError, match="holds lora of size 4, but the model has adapter"):
        load_method_tensors(path, add_adapters(copy.deepcopy(small_t5), 4), method="adapter", size=4)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError, match="unreadable .*truncated or not a torch file"):
        load_method_tensors(truncated, lora8, method="lora", size=4)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    with pytest.raises(UserError, match="is not a weights file of this project"):
        load_method_tensors(foreign, lora8, method="lora", size=4)


def test_merged_lora_equals_unmerged(small_t5, batch):
    base = logits(small_t5, batch)
    model = add_lora(copy.deepcopy(small_t5), rank=4, alpha=8).eval()
    _randomise(model)
    unmerged = logits(model, batch)
    merged = merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert torch.allclose(logits(merged, batch), unmerged, atol=1e-5)
    # and the update is really there: merging a non-zero update changes the base model's logits
    assert (logits(merged, batch) - base).abs().max() > 1e-2


def test_prefix_starts_from_the_backbones_own_keys_and_values(small_t5):
    """prefix_init reads each decoder layer's self-attention k and v for real tokens."""
    model = with_prefix(small_t5, n=3)
    assert model.prefix.shape == (3, 2, 2, 4, 8)                   # (n, decoder layers, k/v, heads, d_kv)
    from helpers.methods.prefix import sample_real_tokens

    tokens = sample_real_tokens(small_t5.config.vocab_size, 3, 0, [0, 1, 2])
    embedded = small_t5.get_input_embeddings()(tokens)            # decoder layer 0 reads the normed embeddings
    attention = small_t5.decoder.block[0].layer[0]
    with torch.no_grad():
        keys = attention.SelfAttention.k(attention.layer_norm(embedded))
    assert torch.allclose(model.prefix[:, 0, 0].reshape(3, -1), keys, atol=1e-6)
    assert not torch.allclose(model.prefix[:, 0], model.prefix[:, 1])   # each layer its own


def test_partial_fine_tuning_trains_only_the_last_blocks(small_t5):
    from helpers import UserError
    from helpers.methods.inject import train_last_blocks

    model = train_last_blocks(small_t5, blocks=1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("encoder.block.1.", "decoder.block.1.")) for n in trainable)
    assert {n for n, _ in model.named_parameters() if n.startswith(("encoder.block.1.", "decoder.block.1."))} == trainable
    with pytest.raises(UserError, match="trainable_blocks=3 must lie in 1..2"):
        train_last_blocks(small_t5, blocks=3)
