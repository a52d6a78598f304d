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


def formula(run: RunSpec, config, size: int | None = None) -> tuple[int, str]:
    """(predicted added parameters, the formula in words) for a run on a T5 config."""
    size = run.size if size is None else size
    blocks = config.num_layers + config.num_decoder_layers
    if run.method == "full":
        return 0, "-"
    if run.method == "prompt":
        return prompt_added(config, size), "n_tokens x d_model"
    if run.method == "adapter":
        return adapter_added(config, size), f"{blocks} x (2 x d_model x b + d_model + b)"
    # q and v (d_model -> heads x d_kv) in encoder self-, decoder self- and cross-attention.
    linears = 2 * (config.num_layers + 2 * config.num_decoder_layers)
    inner = config.num_heads * config.d_kv
    words = f"{linears} x (2 x d_model x r)" if inner == config.d_model else f"{linears} x r x (d_model + heads x d_kv)"
    return lora_added(config, size), words
