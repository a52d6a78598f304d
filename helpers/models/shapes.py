"""The known T5 checkpoints' shapes, from the values of their public config.json files on the hub
(d_model, d_kv, d_ff, num_layers, num_decoder_layers, num_heads, vocab_size, feed_forward_proj,
tie_word_embeddings), so that parameter tables and benchmarks need no download; built on the meta
device, an 11-billion-parameter model costs no memory.

T5 v1.1 (and FLAN-T5 and the LM-adapted checkpoints, which share its shapes) differs from the
original T5 in three ways the methods and formulas must follow: a gated feed-forward (wi_0, wi_1,
wo), attention whose inner width num_heads x d_kv is not d_model (t5-v1_1-small: 6 x 64 = 384
against 512), and an LM head not tied to the embedding (vocab x d_model more parameters)."""
from __future__ import annotations

from helpers import UserError

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


def t5_config(name: str):
    """The T5Config of a known checkpoint, or of a saved folder's config.json."""
    from pathlib import Path

    from transformers import T5Config

    shape = known_shape(name)
    if shape is not None:
        return T5Config(**shape)
    if (Path(name).expanduser() / "config.json").is_file():
        return T5Config.from_pretrained(Path(name).expanduser())
    raise UserError(f"model {name!r} is not a known T5 shape ({', '.join(KNOWN_T5)}) nor a folder with a "
                    "config.json; pass one of those, or a folder written by save_pretrained")


def architecture(name: str = "t5-small", seed: int = 0, meta: bool = False):
    """The checkpoint's architecture with random weights (no download): exact counts, speed and
    memory. meta=True builds it on the meta device: shapes only, no memory, any size."""
    import torch
    from transformers import T5ForConditionalGeneration

    config = t5_config(name)
    if meta:
        with torch.device("meta"):
            return T5ForConditionalGeneration(config)
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config)


def backbone_formula(config) -> tuple[int, str]:
    """(parameters of the bare T5, the formula in words), counted from its configuration."""
    d, inner, ff = config.d_model, config.num_heads * config.d_kv, config.d_ff
    enc, dec, vocab = config.num_layers, config.num_decoder_layers, config.vocab_size
    gated = config.is_gated_act
    attention = 4 * d * inner                      # q, k, v: d_model -> heads x d_kv; o back
    feed_forward = (3 if gated else 2) * d * ff    # gated: wi_0, wi_1, wo; else wi, wo
    bias = config.relative_attention_num_buckets * config.num_heads   # one table per stack
    encoder = enc * (attention + feed_forward + 2 * d) + bias + d
    decoder = dec * (2 * attention + feed_forward + 3 * d) + bias + d
    embeddings = vocab * d * (1 if config.tie_word_embeddings else 2)
    words = (f"{'' if config.tie_word_embeddings else '2 x '}vocab x d + {enc} x (4 d hk + {3 if gated else 2} d ff + 2 d) "
             f"+ {dec} x (8 d hk + {3 if gated else 2} d ff + 3 d) + 2 x buckets x heads + 2 d")
    return embeddings + encoder + decoder, words
