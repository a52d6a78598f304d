"""The tiny profile's backbone: a 4-layer T5 briefly pretrained on the synthetic corpus.

A frozen *random* backbone gives prompt tuning nothing to steer, so, like t5-small (which met
SST-2 in its multitask pretraining), the tiny T5 is first pretrained on several tasks, each named
by a prefix token. Fine-tuning inputs carry no prefix: every method must learn to call up the
sentiment skill, which is what parameter-efficient methods do with real pretrained models.
Built once (about half a minute on 2 cores), then loaded from the cache like any saved model.
"""
from __future__ import annotations

import random
from pathlib import Path

from helpers.data import synthetic
from helpers.study.paths import cache_dir, cached_folder

TINY_T5 = dict(d_model=64, d_kv=16, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4,
               relative_attention_num_buckets=16, dropout_rate=0.1, feed_forward_proj="relu",
               tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
# No dropout in this short pretraining: with it the tasks blur (a plain review already scored
# 0.81 on sentiment, leaving fine-tuning nothing to show); fine-tuning then uses t5-small's 0.1.
# threads: float sums depend on how many threads split them, and torchrun starts each process
# with one; a fixed count makes the backbone the same whichever command happens to build it.
PRETRAIN = dict(reviews=7000, epochs=2, batch_size=64, lr=1e-3, seed=3, dropout_rate=0.0, threads=2)
VERSION = 1                          # bump when anything above changes, so caches rebuild


def tiny_backbone_dir() -> Path:
    fingerprint = {"version": VERSION, "config": TINY_T5, "pretrain": PRETRAIN, "vocab": synthetic.vocabulary()}

    def build(folder: Path) -> None:
        model, tokenizer = pretrain_tiny_backbone()
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return cached_folder(cache_dir("tiny") / "backbone", fingerprint, build)


def pretraining_examples(reviews: int, seed: int) -> list[tuple[str, str]]:
    """(input, target) pairs, two per review: the sentiment task behind its prefix token, and,
    with no prefix, an unsupervised stand-in for T5's span corruption (predict the first word).
    Plain text therefore means "language modelling" to the backbone, not "sentiment"."""
    corpus = synthetic.make_split(reviews, seed)
    examples = []
    for text, label in zip(corpus["text"], corpus["label"]):
        examples += [(f"<sentiment> {text}", synthetic.LABELS[label]), (text, text.split()[0])]
    random.Random(seed).shuffle(examples)
    return examples


def pretrain_tiny_backbone():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(PRETRAIN["threads"])
    try:
        return _pretrain()
    finally:
        torch.set_num_threads(threads)


def _pretrain():
    import torch
    from tqdm.auto import tqdm
    from transformers import T5Config, T5ForConditionalGeneration, get_linear_schedule_with_warmup

    torch.manual_seed(PRETRAIN["seed"])
    tokenizer = synthetic.build_tokenizer()
    config = T5Config(vocab_size=len(tokenizer), **dict(TINY_T5, dropout_rate=PRETRAIN["dropout_rate"]))
    model = T5ForConditionalGeneration(config)
    examples = pretraining_examples(PRETRAIN["reviews"], PRETRAIN["seed"])
    size = PRETRAIN["batch_size"]
    batches = [examples[i:i + size] for i in range(0, len(examples), size)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN["lr"])
    total = PRETRAIN["epochs"] * len(batches)
    scheduler = get_linear_schedule_with_warmup(optimizer, total // 20, total)
    model.train()
    with tqdm(total=total, desc="pretraining the tiny T5 (once, then cached)") as bar:
        for _ in range(PRETRAIN["epochs"]):
            for batch in batches:
                inputs = tokenizer([x for x, _ in batch], return_tensors="pt", padding=True)
                labels = tokenizer([y for _, y in batch], return_tensors="pt")["input_ids"]  # (B, 2): word, </s>
                loss = model(**inputs, labels=labels).loss
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                bar.set_postfix(loss=f"{loss.item():.3f}")
                bar.update()
    model.eval()
    model.config.dropout_rate = TINY_T5["dropout_rate"]   # saved config: what fine-tuning uses
    return model, tokenizer
