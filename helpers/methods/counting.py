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


def formula(run: RunSpec, config, size: int | None = None) -> tuple[int, str]:
    """(predicted added parameters, the formula in words) for a run on a T5 config."""
    size = run.size if size is None else size
    d = config.d_model
    blocks = config.num_layers + config.num_decoder_layers
    if run.method == "full":
        return 0, "-"
    if run.method == "prompt":
        return size * d, "n_tokens x d_model"
    if run.method == "adapter":
        return blocks * (2 * d * size + d + size), f"{blocks} x (2 x d_model x b + d_model + b)"
    # q and v (d_model -> heads x d_kv) in encoder self-, decoder self- and cross-attention.
    linears = 2 * (config.num_layers + 2 * config.num_decoder_layers)
    inner = config.num_heads * config.d_kv
    return linears * size * (d + inner), f"{linears} x (2 x d_model x r)" if inner == d else f"{linears} x r x (d_model + heads x d_kv)"
