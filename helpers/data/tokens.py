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
    ids: list          # list of 1-D integer tensors (int16 for T5's vocabulary: see id_dtype)
    labels: "object"   # int64 tensor (N,)

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.ids]

    def subset(self, indices) -> "Encoded":
        return Encoded([self.ids[i] for i in indices], self.labels[list(indices)])


def _fingerprint(tokenizer, template: str, max_length: int, reviews: dict[str, Reviews]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(["compact ids", type(tokenizer).__name__, tokenizer.name_or_path, len(tokenizer),
                              template, max_length]).encode())
    for split in sorted(reviews):
        for text, label in zip(reviews[split].text, reviews[split].label):
            digest.update(text.encode())
            digest.update(b"\x01" if label else b"\x00")
    return digest.hexdigest()[:16]


CHUNK = 2000   # reviews per tokenizer call: Python's lists of token ids stay small (a few MB, not 0.5 GB)


def id_dtype(tokenizer):
    """The smallest integer type that holds every token id: 16 bits for T5's 32,128-row vocabulary.
    A 16-bit cache of IMDB's 50,000 reviews is a quarter of an int64 one; batches widen to int64."""
    import torch

    return torch.int16 if len(tokenizer) <= 2 ** 15 else torch.int32


def encode_split(tokenizer, reviews: Reviews, template: str, max_length: int) -> Encoded:
    """Token ids of every review, tokenised in batches by the (fast, multi-threaded) tokenizer and
    packed into one flat compact tensor; each review's ids are a view of it."""
    import numpy as np
    import torch

    texts = [template.format(text=t) for t in reviews.text]
    flat, lengths = [], []
    for start in range(0, len(texts), CHUNK):
        ids = tokenizer(texts[start:start + CHUNK], truncation=True, max_length=max_length,
                        return_attention_mask=False)["input_ids"]
        lengths += [len(x) for x in ids]
        flat.append(np.fromiter((i for x in ids for i in x), dtype=np.int64, count=sum(map(len, ids))))
    packed = torch.from_numpy(np.concatenate(flat) if flat else np.zeros(0, np.int64)).to(id_dtype(tokenizer))
    return _unpack(packed, torch.tensor(lengths, dtype=torch.long), torch.tensor(reviews.label, dtype=torch.long))


def _unpack(flat, lengths, labels) -> Encoded:
    import torch

    return Encoded(list(torch.split(flat, lengths.tolist())), labels)


def _pack(encoded: Encoded) -> dict:
    import torch

    flat = torch.cat(encoded.ids) if encoded.ids else torch.zeros(0, dtype=torch.int16)
    return {"flat": flat, "lengths": torch.tensor(encoded.lengths(), dtype=torch.long), "labels": encoded.labels}


def encode_cached(tokenizer, reviews: dict[str, Reviews], template: str, max_length: int, profile: str) -> dict[str, Encoded]:
    """Tokenise every split once per (tokenizer, template, max_length, corpus), then reuse."""
    import torch

    key = _fingerprint(tokenizer, template, max_length, reviews)
    file = cache_dir(profile) / "tokens" / f"{key}.pt"
    if file.is_file():
        stored = torch.load(file, weights_only=True)
        return {split: _unpack(s["flat"], s["lengths"], s["labels"]) for split, s in stored.items()}
    encoded = {split: encode_split(tokenizer, r, template, max_length) for split, r in reviews.items()}
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".tmp{os.getpid()}")
    torch.save({split: _pack(e) for split, e in encoded.items()}, tmp)
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
