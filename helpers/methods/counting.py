"""Parameter counts as a story (before freezing, after freezing, after adding the method) and the
formula each method's added count should follow. One helper for every notebook and the report."""
from __future__ import annotations

from dataclasses import dataclass

from helpers.study.runs import RunSpec


@dataclass
class ParameterCounts:
    total: int
    trainable: int

    def line(self, label: str) -> str:
        share = 100 * self.trainable / self.total if self.total else 0.0
        return f"{label:<28} trainable {self.trainable:>12,} of {self.total:>12,} ({share:.4f}%)"


def count_parameters(model) -> ParameterCounts:
    # named_parameters() yields each tensor once, so T5's tied embedding/lm_head counts once.
    total = trainable = 0
    for _, parameter in model.named_parameters():
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return ParameterCounts(total, trainable)


# The three formulas are pieces notebooks 02, 03 and 05 ask students to write (`make handout`
# clears what lies between the nbgrader markers); formula() below is their caller in helpers.
def prompt_added(config, n_tokens: int) -> int:
    """Parameters soft prompt tuning adds to a T5 with this config: one trained vector of
    d_model values per prompt token (config.d_model)."""
    ### BEGIN SOLUTION
    return n_tokens * config.d_model
    ### END SOLUTION


def adapter_added(config, bottleneck: int) -> int:
    """Parameters the bottleneck adapters add: one adapter after the feed-forward sublayer of every
    encoder and decoder block (config.num_layers + config.num_decoder_layers), each a down
    projection d_model -> bottleneck and an up projection bottleneck -> d_model, both with biases."""
    ### BEGIN SOLUTION
    blocks = config.num_layers + config.num_decoder_layers
    return blocks * (2 * config.d_model * bottleneck + config.d_model + bottleneck)
    ### END SOLUTION


def lora_added(config, rank: int) -> int:
    """Parameters LoRA adds on the q and v projections of every attention module: encoder
    self-attention (config.num_layers), decoder self- and cross-attention (2 x
    config.num_decoder_layers). Each projection maps d_model -> num_heads x d_kv and gets
    A (rank x d_in) and B (d_out x rank)."""
    ### BEGIN SOLUTION
    linears = 2 * (config.num_layers + 2 * config.num_decoder_layers)
    return linears * rank * (config.d_model + config.num_heads * config.d_kv)
    ### END SOLUTION


def _stacks(config) -> tuple[int, int]:
    """(attention modules, blocks) of a T5: encoder self-, decoder self- and cross-attention; the
    encoder's and the decoder's blocks. The words of every formula below count with these."""
    return config.num_layers + 2 * config.num_decoder_layers, config.num_layers + config.num_decoder_layers


def _written(piece, config, size: int) -> int | None:
    """piece(config, size), or None in the student repository (`make handout`), where the three
    formulas above are cleared and raise NotImplementedError: the student writes them in the
    notebooks, and helpers' own runs (library twins, the parameter table) then show no prediction."""
    try:
        return piece(config, size)
    except NotImplementedError:
        return None


def formula(run: RunSpec, config, size: int | None = None) -> tuple[int | None, str]:
    """(predicted added parameters, the formula in words) for a run on a T5 config; the prediction
    is None where its formula is not written (the student repository's blank helpers)."""
    size = run.size if size is None else size
    attention, blocks = _stacks(config)
    if run.method == "full":
        return 0, "-"
    if run.method == "prompt":
        return _written(prompt_added, config, size), "n_tokens x d_model"
    if run.method == "adapter":
        return _written(adapter_added, config, size), f"{blocks} x (2 x d_model x b + d_model + b)"
    if run.method == "prefix" and run.implementation == "peft":
        # PEFT sizes each key/value by d_model (its token_dim), not heads x d_kv: the same on t5-small,
        # not on T5 v1.1, whose heads x d_kv (384) PEFT's prefix then cannot fill.
        layers = config.num_layers
        return size * layers * 2 * config.d_model, f"n_tokens x {layers} x 2 x d_model"
    if run.method in ("prefix", "ia3", "bitfit", "partial"):
        return _beyond_formula(run.method, config, size)
    # q and v (d_model -> heads x d_kv) in encoder self-, decoder self- and cross-attention.
    inner = config.num_heads * config.d_kv
    words = (f"{2 * attention} x (2 x d_model x r)" if inner == config.d_model
             else f"{2 * attention} x r x (d_model + heads x d_kv)")
    return _written(lora_added, config, size), words


def _beyond_formula(method: str, config, size: int) -> tuple[int, str]:
    """Notebook 06's methods. Attention modules: encoder self-, decoder self- and cross-attention."""
    inner, d_ff, layers = config.num_heads * config.d_kv, config.d_ff, config.num_decoder_layers
    attention, blocks = _stacks(config)
    if method == "prefix":   # a key and a value of heads x d_kv per position, in each decoder self-attention
        return size * layers * 2 * inner, f"n_tokens x {layers} x 2 x heads x d_kv"
    if method == "ia3":      # k and v outputs of every attention module, wo's input in every block
        return attention * 2 * inner + blocks * d_ff, f"{attention} x 2 x heads x d_kv + {blocks} x d_ff"
    if method == "bitfit":   # a bias per output of q, k, v, o and wi (wi_0, wi_1 when gated), wo
        inputs = 2 if config.is_gated_act else 1
        return (attention * (3 * inner + config.d_model) + blocks * (inputs * d_ff + config.d_model),
                f"{attention} x (3 x heads x d_kv + d_model) + {blocks} x ({inputs if inputs > 1 else ''}"
                f"{' x ' if inputs > 1 else ''}d_ff + d_model)")
    return 0, "-"            # partial fine-tuning adds nothing; see trainable_formula


def trainable_formula(run: RunSpec, config, size: int | None = None) -> tuple[int, str] | None:
    """The trainable count where it is neither the added count nor everything: partial fine-tuning."""
    if run.method != "partial":
        return None
    size = run.size if size is None else size
    d, inner = config.d_model, config.num_heads * config.d_kv
    feed_forward = (3 if config.is_gated_act else 2) * d * config.d_ff   # gated FF (T5 v1.1): two input projections
    encoder_block = 4 * d * inner + feed_forward + 2 * d                   # attention, FF, two RMSNorm scales
    decoder_block = 8 * d * inner + feed_forward + 3 * d                   # self- and cross-attention, FF, three norms
    return (size * (encoder_block + decoder_block),
            f"{size} x (encoder block 4 d inner + FF + 2d) + {size} x (decoder block 8 d inner + FF + 3d)")
