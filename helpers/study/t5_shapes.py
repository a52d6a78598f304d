"""The known T5 checkpoints' shapes, written from the values of their public config.json files on
the hub (d_model, d_kv, d_ff, num_layers, num_decoder_layers, num_heads, vocab_size,
feed_forward_proj, tie_word_embeddings): parameter tables and benchmarks need no download, and a
misspelt or unknown name is told apart from a known one while the hub is unreachable. No torch.

The totals they give equal the model cards' (t5-small 60,506,624; t5-11b 11,307,321,344;
flan-t5-small 76,961,152), which tests/test_params.py checks."""
from __future__ import annotations

_COMMON = dict(vocab_size=32128, relative_attention_num_buckets=32, relative_attention_max_distance=128,
               dropout_rate=0.1, layer_norm_epsilon=1e-6, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def _t5(d_model, d_kv, d_ff, layers, heads):
    return dict(_COMMON, d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=layers, num_decoder_layers=layers,
                num_heads=heads, feed_forward_proj="relu", tie_word_embeddings=True)


def _v1_1(d_model, d_ff, layers, heads):
    return dict(_COMMON, d_model=d_model, d_kv=64, d_ff=d_ff, num_layers=layers, num_decoder_layers=layers,
                num_heads=heads, feed_forward_proj="gated-gelu", tie_word_embeddings=False)


# The original T5 (Raffel et al. 2020); t5-3b and t5-11b widen d_kv to 128 and keep d_model 1024.
_ORIGINAL = {"t5-small": _t5(512, 64, 2048, 6, 8), "t5-base": _t5(768, 64, 3072, 12, 12),
             "t5-large": _t5(1024, 64, 4096, 24, 16), "t5-3b": _t5(1024, 128, 16384, 24, 32),
             "t5-11b": _t5(1024, 128, 65536, 24, 128)}
# T5 v1.1 sizes; google/t5-v1_1-*, google/flan-t5-* and google/t5-*-lm-adapt share them.
_V1_1 = {"small": _v1_1(512, 1024, 8, 6), "base": _v1_1(768, 2048, 12, 12),
         "large": _v1_1(1024, 2816, 24, 16), "xl": _v1_1(2048, 5120, 24, 32)}

KNOWN_T5: dict[str, dict] = {
    **_ORIGINAL,
    **{f"google/t5-v1_1-{size}": shape for size, shape in _V1_1.items()},
    **{f"google/flan-t5-{size}": shape for size, shape in _V1_1.items()},
    **{f"google/t5-{size}-lm-adapt": shape for size, shape in _V1_1.items()},
}
# The hub also serves the original checkpoints under their organisation's name.
ALIASES = {f"google-t5/{name}": name for name in _ORIGINAL}


def known_shape(name: str) -> dict | None:
    return KNOWN_T5.get(ALIASES.get(name, name))

