"""Soft prompt tuning (Lester et al., 2021), from scratch.

    encoder input = [p_1 ... p_n ; E(x_1) ... E(x_L)],  mask = [1 ... 1 ; m_1 ... m_L]

Only the n x d_model prompt matrix P is trained; the decoder and the labels are untouched.
"""
from __future__ import annotations

import torch
from torch import nn

from helpers.methods.inject import freeze

COMMON_TOKENS = 5000   # T5's sentencepiece ids are roughly frequency-ordered: sample common words


def init_from_vocabulary(embedding: nn.Embedding, n_tokens: int, seed: int, special_ids) -> torch.Tensor:
    """Embeddings of n randomly sampled real tokens (not <pad>, </s>, ... as rows 0..n-1 would be).

    Lester et al. found sampled-vocabulary init far better than random vectors. Sample (with
    torch.Generator().manual_seed(seed)) n distinct ids among the first COMMON_TOKENS, leaving out
    special_ids; return a detached copy of their rows, shape (n_tokens, d_model)."""
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    limit = min(COMMON_TOKENS, embedding.num_embeddings)
    candidates = torch.tensor([i for i in range(limit) if i not in set(special_ids)])
    picks = candidates[torch.randperm(len(candidates), generator=generator)[:n_tokens]]
    return embedding.weight[picks].detach().clone()
    ### END SOLUTION


def prompt_init(backbone: nn.Module, tokenizer, n_tokens: int, seed: int) -> torch.Tensor:
    """The study's prompt initialisation, shared by the scratch and the OpenDelta runs."""
    return init_from_vocabulary(backbone.get_input_embeddings(), n_tokens, seed, tokenizer.all_special_ids)


class SoftPrompt(nn.Module):
    """The trained prompt matrix `prompt` (an nn.Parameter named `prompt`, a copy of `initial`:
    n_tokens x d_model), put before every input's embeddings, with the attention mask extended
    to match (ones for the prompt's positions)."""

    def __init__(self, initial: torch.Tensor):
        super().__init__()
        ### BEGIN SOLUTION
        self.prompt = nn.Parameter(initial.clone())           # (n_tokens, d_model)
        ### END SOLUTION

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor):
        """embeds (B, L, d), mask (B, L) -> [prompt; embeds] (B, n+L, d), [ones; mask] (B, n+L)."""
        ### BEGIN SOLUTION
        batch = embeds.size(0)
        prompt = self.prompt.to(embeds.dtype).unsqueeze(0).expand(batch, -1, -1)   # (B, n, d)
        ones = torch.ones(batch, prompt.size(1), dtype=mask.dtype, device=mask.device)
        return torch.cat([prompt, embeds], dim=1), torch.cat([ones, mask], dim=1)   # (B, n+L, d), (B, n+L)
        ### END SOLUTION


class SoftPromptT5(nn.Module):
    """A frozen T5 whose encoder sees the soft prompt before every input. It trains exactly one
    tensor, the n_tokens x d_model prompt, and its forward(input_ids, attention_mask, **kwargs)
    passes the rest (labels=, decoder_input_ids=) on to the backbone, returning its output."""

    def __init__(self, backbone: nn.Module, initial: torch.Tensor):
        super().__init__()
        self.backbone = freeze(backbone)
        self.soft_prompt = SoftPrompt(initial)
        self.config = backbone.config

    def _encoder_inputs(self, input_ids, attention_mask):
        """The backbone's input embeddings of input_ids with the soft prompt before them, and the mask."""
        ### BEGIN SOLUTION
        embeds = self.backbone.get_input_embeddings()(input_ids)                    # (B, L, d)
        return self.soft_prompt(embeds, attention_mask)
        ### END SOLUTION

    def forward(self, input_ids, attention_mask, **kwargs):
        """The backbone's output on the prompted embeddings (inputs_embeds=, attention_mask=, **kwargs)."""
        ### BEGIN SOLUTION
        embeds, mask = self._encoder_inputs(input_ids, attention_mask)
        return self.backbone(inputs_embeds=embeds, attention_mask=mask, **kwargs)
        ### END SOLUTION

    @torch.no_grad()
    def generate(self, input_ids, attention_mask, **kwargs):
        # Through _encoder_inputs, so that generation sees the prompt that forward sees.
        prompted = self._encoder_inputs(input_ids, attention_mask)   # (embeddings, mask)
        return self.backbone.generate(inputs_embeds=prompted[0], attention_mask=prompted[1], **kwargs)
