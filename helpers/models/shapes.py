"""T5 architectures with random weights from the known checkpoints' shapes (helpers.study.t5_shapes)
or a saved folder's config.json, so that parameter tables and benchmarks need no download; built
on the meta device, an 11-billion-parameter model costs no memory.

T5 v1.1 (and FLAN-T5 and the LM-adapted checkpoints, which share its shapes) differs from the
original T5 in three ways the methods and formulas must follow: a gated feed-forward (wi_0, wi_1,
wo), attention whose inner width num_heads x d_kv is not d_model (t5-v1_1-small: 6 x 64 = 384
against 512), and an LM head not tied to the embedding (vocab x d_model more parameters)."""
from __future__ import annotations

from helpers import UserError
from helpers.study.t5_shapes import KNOWN_T5, known_shape


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
