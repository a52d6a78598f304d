"""Token ids of the reviews: tokenised once per (tokenizer, template, max_length, corpus) and cached
on disk, so the notebooks and runs of one profile tokenise each corpus once; then cut into the
train / validation / test subsets a run uses."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from helpers.data.reviews import SPLIT_SEED, Reviews, load_reviews, stratified_split
from helpers.study.paths import cache_dir

@dataclass
class Encoded:
    """Token ids of one split, without padding (batches pad themselves), and 0/1 labels."""
    ids: list          # list of 1-D int64 tensors
    labels: "object"   # int64 tensor (N,)

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.ids]

    def subset(self, indices) -> "Encoded":
        return Encoded([self.ids[i] for i in indices], self.labels[list(indices)])


def _fingerprint(tokenizer, template: str, max_length: int, reviews: dict[str, Reviews]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([type(tokenizer).__name__, tokenizer.name_or_path, len(tokenizer),
                              template, max_length]).encode())
    for split in sorted(reviews):
        for text, label in zip(reviews[split].text, reviews[split].label):
            digest.update(text.encode())
            digest.update(b"\x01" if label else b"\x00")
    return digest.hexdigest()[:16]


def encode_split(tokenizer, reviews: Reviews, template: str, max_length: int) -> Encoded:
    import torch

    texts = [template.format(text=t) for t in reviews.text]
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return Encoded([torch.tensor(x, dtype=torch.long) for x in ids], torch.tensor(reviews.label, dtype=torch.long))


def encode_cached(tokenizer, reviews: dict[str, Reviews], template: str, max_length: int, profile: str) -> dict[str, Encoded]:
    """Tokenise every split once per (tokenizer, template, max_length, corpus), then reuse."""
    import torch

    key = _fingerprint(tokenizer, template, max_length, reviews)
    file = cache_dir(profile) / "tokens" / f"{key}.pt"
    if file.is_file():
        stored = torch.load(file, weights_only=True)
        return {split: Encoded(list(torch.split(s["flat"], s["lengths"].tolist())), s["labels"])
                for split, s in stored.items()}
    encoded = {split: encode_split(tokenizer, r, template, max_length) for split, r in reviews.items()}
    file.parent.mkdir(parents=True, exist_ok=True)
    packed = {split: {"flat": torch.cat(e.ids), "lengths": torch.tensor(e.lengths()), "labels": e.labels}
              for split, e in encoded.items()}
    tmp = file.with_suffix(f".tmp{os.getpid()}")
    torch.save(packed, tmp)
    tmp.replace(file)   # atomic: a parallel process never reads half a cache file
    return encoded


def prepare_data(settings, tokenizer) -> dict[str, Encoded]:
    """{"train", "val", "test"} token ids for a run's settings."""
    reviews = load_reviews(settings.profile)
    encoded = encode_cached(tokenizer, reviews, settings.template, settings.max_length, settings.profile)
    train_idx, val_idx = stratified_split(reviews["train"].label, settings.val_size)
    train_idx = _fixed_subsample(train_idx, settings.train_limit)
    train_idx = _part(train_idx, settings.train_part)
    test_idx = _fixed_subsample(list(range(len(encoded["test"]))), settings.test_limit)
    return {"train": encoded["train"].subset(train_idx), "val": encoded["train"].subset(val_idx),
            "test": encoded["test"].subset(test_idx)}


def _part(indices: list[int], part: str) -> list[int]:
    """The i-th of k disjoint parts ("i/k") of a fixed shuffle: together the parts are all of them."""
    import numpy as np

    if not part:
        return indices
    i, k = map(int, part.split("/"))
    shuffled = np.random.default_rng(SPLIT_SEED).permutation(indices)
    return sorted(np.array_split(shuffled, k)[i - 1].tolist())


def _fixed_subsample(indices: list[int], limit: int) -> list[int]:
    """A random subset with a fixed seed (IMDB's files are sorted by label, so never a prefix);
    fixed rather than the run seed so that seeds differ only in training randomness."""
    import numpy as np

    if not limit or limit >= len(indices):
        return indices
    return sorted(np.random.default_rng(SPLIT_SEED).choice(indices, limit, replace=False).tolist())
