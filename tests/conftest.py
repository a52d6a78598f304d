"""Every test writes under one temporary study root (never the repository's runs/), shared by
the session so the tiny backbone is pretrained once."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def study_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    previous = os.environ.get("PEFT_STUDY_ROOT")
    os.environ["PEFT_STUDY_ROOT"] = str(root)
    os.environ.pop("MODEL_PATH", None)
    os.environ.pop("DATA_PATH", None)
    os.environ["HF_HUB_OFFLINE"] = "1"   # no test may reach for the network
    os.environ["TQDM_DISABLE"] = "1"     # progress bars would drown the test log
    yield root
    if previous is None:
        os.environ.pop("PEFT_STUDY_ROOT", None)
    else:
        os.environ["PEFT_STUDY_ROOT"] = previous


@pytest.fixture(scope="session")
def tiny_backbone_dir(study_root):
    from helpers.models.tiny import tiny_backbone_dir as build
    return build()


@pytest.fixture()
def small_t5():
    """A random T5 with t5-small's structure at a fraction of its width: fast, and every
    module a method touches is there (self-, cross-attention, feed-forward, tied head)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, dropout_rate=0.1, feed_forward_proj="relu",
                      tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5ForConditionalGeneration(config).eval()


@pytest.fixture()
def batch():
    import torch

    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, 64, (3, 7), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 5:] = 0   # one padded row, so masks matter
    input_ids[1, 5:] = 0
    labels = torch.tensor([[5, 1], [6, 1], [5, 1]])
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
