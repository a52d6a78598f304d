"""Module arithmetic (notebook 07): scratch addition and negation against PEFT's and `adapters'`
own operations on the same LoRA tensors, and the pitfalls of each library."""
import copy
import warnings

import pytest
import torch

from helpers.methods.arithmetic import (LoRAUpdate, adapters_svd_weights, add, as_adapters, as_peft, merge_ia3_into,
                                        merge_into, negate, negate_ia3, read_ia3, read_lora)

START = torch.zeros((3, 1), dtype=torch.long)


def _logits(model, batch):
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            decoder_input_ids=START).logits


def _update(model, rank, seed, scaling=2.0):
    """A random LoRA update on q and v of every attention module (B non-zero: no trivial identity)."""
    generator = torch.Generator().manual_seed(seed)
    paths = [n for n, m in model.named_modules() if n.endswith(("SelfAttention.q", "SelfAttention.v",
                                                                  "EncDecAttention.q", "EncDecAttention.v"))]
    A = {p: torch.randn(rank, 32, generator=generator) * 0.3 for p in paths}
    B = {p: torch.randn(32, rank, generator=generator) * 0.3 for p in paths}
    return LoRAUpdate(A, B, scaling)


def test_negation_scratch_equals_peft_and_adapters(small_t5, batch):
    update = _update(small_t5, rank=4, seed=1)
    scratch = _logits(merge_into(copy.deepcopy(small_t5), negate(update)), batch)
    original = _logits(merge_into(copy.deepcopy(small_t5), update), batch)
    assert (scratch - original).abs().max() > 1e-2                       # negation changed something

    peft = as_peft(copy.deepcopy(small_t5), {"sentiment": update})
    peft.add_weighted_adapter(["sentiment"], [-1.0], adapter_name="negated", combination_type="cat")
    peft.set_adapter("negated")
    assert torch.allclose(_logits(peft, batch), scratch, atol=1e-5)      # merged vs unmerged: rounding only

    hub = as_adapters(copy.deepcopy(small_t5), {"sentiment": update})
    hub.average_adapter("negated", ["sentiment"], weights=[-1.0], combine_strategy="lora_linear_only_negate_b",
                        normalize_weights=False)
    hub.set_active_adapters("negated")
    assert torch.allclose(_logits(hub, batch), scratch, atol=1e-5)


def test_adapters_default_normalisation_silently_undoes_the_negation(small_t5, batch):
    """average_adapter divides the weights by their sum: [-1] becomes [+1], the original module."""
    update = _update(small_t5, rank=4, seed=2)
    original = _logits(merge_into(copy.deepcopy(small_t5), update), batch)
    negated = _logits(merge_into(copy.deepcopy(small_t5), negate(update)), batch)
    hub = as_adapters(copy.deepcopy(small_t5), {"sentiment": update})
    hub.average_adapter("default", ["sentiment"], weights=[-1.0], combine_strategy="lora_linear_only_negate_b")
    hub.set_active_adapters("default")
    assert torch.allclose(_logits(hub, batch), original, atol=1e-5)      # the pitfall, as measured
    assert not torch.allclose(_logits(hub, batch), negated, atol=1e-3)


def test_addition_equals_peft_cat_and_adapters_svd_not_peft_linear(small_t5, batch):
    a, b = _update(small_t5, rank=4, seed=3, scaling=2.0), _update(small_t5, rank=4, seed=4, scaling=2.0)
    scratch = _logits(merge_into(copy.deepcopy(small_t5), add(a, b)), batch)
    for path in a.A:
        assert torch.allclose(add(a, b).delta(path), a.delta(path) + b.delta(path), atol=1e-5)

    peft = as_peft(copy.deepcopy(small_t5), {"first": a, "second": b})
    peft.add_weighted_adapter(["first", "second"], [1.0, 1.0], adapter_name="cat", combination_type="cat")
    peft.add_weighted_adapter(["first", "second"], [1.0, 1.0], adapter_name="linear", combination_type="linear")
    peft.set_adapter("cat")
    assert torch.allclose(_logits(peft, batch), scratch, atol=1e-5)
    peft.set_adapter("linear")
    assert (_logits(peft, batch) - scratch).abs().max() > 1e-2           # cross terms B_a A_b + B_b A_a

    # adapters' SVD merge sums B @ A without each module's alpha / r, then applies the merged module's
    # alpha / svd_rank (alpha of the first module): each weight must carry the ratio of the two.
    hub = as_adapters(copy.deepcopy(small_t5), {"first": a, "second": b})
    weights = adapters_svd_weights([a, b], svd_rank=8)
    assert weights == [2.0, 2.0]                                         # alpha 8: 8 / 4 against 8 / 8
    hub.average_adapter("sum", ["first", "second"], weights=weights, combine_strategy="lora_delta_w_svd",
                        svd_rank=8, normalize_weights=False)
    hub.average_adapter("naive", ["first", "second"], weights=[1.0, 1.0], combine_strategy="lora_delta_w_svd",
                        svd_rank=8, normalize_weights=False)
    hub.set_active_adapters("sum")
    assert torch.allclose(_logits(hub, batch), scratch, atol=1e-4)      # rank 8 holds the rank-8 sum exactly
    hub.set_active_adapters("naive")
    assert (_logits(hub, batch) - scratch).abs().max() > 1e-2           # half the sum: the scaling dropped


def test_updates_read_back_from_lora_pt_and_a_peft_folder(small_t5, tmp_path):
    from helpers.methods.lora import add_lora
    from helpers.methods.weights import save_method_tensors

    model = add_lora(copy.deepcopy(small_t5), rank=4, alpha=8)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                parameter.normal_(0, 0.2)
    save_method_tensors(tmp_path / "lora.pt", model, method="lora", size=4, run_id="t", extra={"lora_alpha": 8})
    update = read_lora(tmp_path / "lora.pt")
    path = "decoder.block.1.layer.1.EncDecAttention.v"
    wrapped = model.get_submodule(path)
    assert update.scaling == 2.0 and torch.equal(update.delta(path), 2.0 * wrapped.lora_B @ wrapped.lora_A)

    peft = as_peft(copy.deepcopy(small_t5), {"default": update})
    peft.save_pretrained(tmp_path / "peft")
    again = read_lora(tmp_path / "peft")
    assert again.scaling == pytest.approx(2.0) and torch.equal(again.delta(path), update.delta(path))


def test_ia3_negation_folds_two_minus_l_into_the_weights(small_t5, batch, tmp_path):
    from helpers.methods.ia3 import add_ia3
    from helpers.methods.weights import save_method_tensors

    model = add_ia3(copy.deepcopy(small_t5))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                parameter.uniform_(0.5, 1.5)
    save_method_tensors(tmp_path / "ia3.pt", model, method="ia3", size=0, run_id="t")
    scales = read_ia3(tmp_path / "ia3.pt")
    assert torch.allclose(_logits(merge_ia3_into(copy.deepcopy(small_t5), scales), batch), _logits(model, batch),
                          atol=1e-5)                                      # folding = the scaled model
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                parameter.copy_(2 - parameter)
    assert torch.allclose(_logits(merge_ia3_into(copy.deepcopy(small_t5), negate_ia3(scales)), batch),
                          _logits(model, batch), atol=1e-5)


def test_adapters_activation_logs_no_false_alarm_but_a_real_inactive_forward_still_warns(small_t5, batch, caplog,
                                                                                         capfd):
    """Notebook 07's `set_active_adapters` made adapters log "none are activated" (its reset_adapter
    opens a forward context before activating); scoring one decoder step asked for a cache and
    drew adapters' past_key_values deprecation notes. Both gone, the genuine warning kept."""
    import logging

    from helpers.notebook.display import first_step_logits

    class Tokenizer:   # first_step_logits tokenises SAMPLE_REVIEWS; any ids of the small vocabulary do
        def __call__(self, texts, **kwargs):
            ids = batch["input_ids"][:len(texts)]
            return _Encoded({"input_ids": ids, "attention_mask": torch.ones_like(ids)})

    hub = as_adapters(copy.deepcopy(small_t5), {"sentiment": _update(small_t5, rank=4, seed=5)})
    capfd.readouterr()
    # adapters' T5 code also passes the deprecated `past_key_value` keyword (a FutureWarning that
    # via_adapterhub filters at import; pytest resets warning filters per test, so not checked here).
    with caplog.at_level(logging.WARNING):
        hub.set_active_adapters("sentiment")
        first_step_logits(hub, Tokenizer())
    messages = [r.getMessage() for r in caplog.records] + capfd.readouterr().err.splitlines()
    assert not [m for m in messages if "none are activated" in m or "past_key_values" in m], messages
    hub.adapters_config.active_setup = None   # a forward pass with nothing active: the warning is real
    with caplog.at_level(logging.WARNING):
        hub(**{k: v for k, v in batch.items() if k != "labels"}, decoder_input_ids=batch["labels"][:, :1])
    assert any("none are activated" in r.getMessage() for r in caplog.records)


class _Encoded(dict):
    def to(self, device):
        return self
