"""The inputs of one grading, drawn afresh each time from a random seed (printed with the grade,
so that a grading can be replayed): three small T5 shapes and their random weights, a batch,
sizes, prompts, an embedding table. One shape has a decoder deeper than its encoder and
heads x d_kv != d_model, another an encoder deeper than its decoder, so no formula that mixes up
depths or widths passes."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

VOCABULARY = 64
# (encoder blocks, decoder blocks) of the three shapes: c0 deeper decoder, c1 deeper encoder.
DEPTHS = {"c0": (1, 2), "c1": (2, 1), "c2": (2, 3)}


# The short training run's shape: t5-small's structure at a small width, fixed so that every
# correct method learns in its few steps (a prompt on the narrowest drawn shapes often cannot);
# its weights are drawn like the others'.
LEARN = {"vocab_size": VOCABULARY, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2,
         "num_heads": 4, "relative_attention_num_buckets": 8, "dropout_rate": 0.0, "feed_forward_proj": "relu",
         "tie_word_embeddings": True, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}
LEARN_SIZE = 4


def _config(rng: random.Random, depths: tuple[int, int], wide_heads: bool) -> dict:
    heads = rng.choice((2, 4))
    d_kv = rng.choice((4, 6, 8))
    # wide_heads: heads x d_kv differs from d_model (as in T5 v1.1); else they agree (as in t5-small)
    d_model = heads * d_kv + (heads * rng.choice((1, 2)) if wide_heads else 0)
    return {"vocab_size": VOCABULARY, "d_model": d_model, "d_kv": d_kv, "d_ff": rng.choice((32, 48)),
            "num_layers": depths[0], "num_decoder_layers": depths[1], "num_heads": heads,
            "relative_attention_num_buckets": 8, "dropout_rate": 0.0, "feed_forward_proj": "relu",
            "tie_word_embeddings": True, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}


@dataclass
class Draw:
    """Everything the sandbox gets (configs, tensors) and what the grader keeps to compare."""
    seed: int
    configs: dict = field(default_factory=dict)
    tensors: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)      # method -> [(config key, size)] for formulas and counts
    size: int = 0                                   # the one size of the checks that compare tensors
    cache: dict = field(default_factory=dict)       # the grader's references, computed once per grading
    init_seeds: list = field(default_factory=list)  # init_from_vocabulary's seeds: one twice, then another
    init_special: list = field(default_factory=list)   # the special ids it must leave out

    @classmethod
    def new(cls, seed: int) -> Draw:
        rng = random.Random(seed)
        draw = cls(seed)
        draw.configs = {key: _config(rng, depths, wide_heads=key != "c1") for key, depths in DEPTHS.items()}
        draw.configs["learn"] = LEARN
        draw.size = rng.choice((2, 3, 4))
        for method in ("prompt", "adapter", "lora"):
            draw.sizes[method] = [(key, rng.choice((1, 2, 3, 5))) for key in DEPTHS]
        generator = torch.Generator().manual_seed(seed)
        draw._weights(generator)
        draw._batch(generator)
        draw._prompts(generator, rng)
        return draw

    def _weights(self, generator: torch.Generator) -> None:
        from transformers import T5Config, T5ForConditionalGeneration

        for key, config in self.configs.items():
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            model = T5ForConditionalGeneration(T5Config(**config))
            for name, tensor in model.state_dict().items():
                if name != "lm_head.weight":   # tied to shared.weight
                    self.tensors[f"{key}.{name}"] = tensor.detach().clone()

    def _batch(self, generator: torch.Generator) -> None:
        input_ids = torch.randint(3, VOCABULARY, (3, 7), generator=generator)
        mask = torch.ones_like(input_ids)
        mask[1, 5:] = 0            # one padded row, so masks matter
        input_ids[1, 5:] = 0
        labels = torch.stack([torch.randint(3, VOCABULARY, (3,), generator=generator), torch.ones(3, dtype=torch.long)], 1)
        self.tensors.update({"batch.input_ids": input_ids, "batch.attention_mask": mask, "batch.labels": labels})

    def _prompts(self, generator: torch.Generator, rng: random.Random) -> None:
        sizes = {size for _, size in self.sizes["prompt"]} | {self.size, LEARN_SIZE}
        for key, config in self.configs.items():
            for n in sizes:
                self.tensors[f"initial.{key}.{n}"] = torch.randn(n, config["d_model"], generator=generator)
        d = self.configs["c0"]["d_model"]
        self.tensors["forward.initial"] = torch.randn(self.size, d, generator=generator)
        self.tensors["forward.embeds"] = torch.randn(3, 7, d, generator=generator)
        self.tensors["forward.mask"] = self.tensors["batch.attention_mask"].clone()
        self.tensors["init.embedding"] = torch.randn(6000, 8, generator=generator)
        self.init_seeds = [rng.randrange(1, 10**6)] * 2
        self.init_seeds.append(self.init_seeds[0] + rng.randrange(1, 1000))
        self.init_special = sorted({0, 1, 2, *rng.sample(range(3, 5000), 5), rng.randrange(5000, 6000)})

    def batch(self) -> dict:
        return {name: self.tensors[f"batch.{name}"] for name in ("input_ids", "attention_mask", "labels")}

    def backbone(self, key: str):
        """The grader's own copy of shape `key`'s backbone, the same weights the sandbox gets."""
        from transformers import T5Config, T5ForConditionalGeneration

        model = T5ForConditionalGeneration(T5Config(**self.configs[key]))
        prefix = f"{key}."
        model.load_state_dict({n[len(prefix):]: t for n, t in self.tensors.items() if n.startswith(prefix)}, strict=False)
        with torch.no_grad():
            model.lm_head.weight.copy_(model.shared.weight)
        return model.eval()

    def describe(self, key: str) -> str:
        c = self.configs[key]
        return (f"d_model {c['d_model']}, {c['num_heads']} heads x d_kv {c['d_kv']}, "
                f"{c['num_layers']} encoder + {c['num_decoder_layers']} decoder blocks")
