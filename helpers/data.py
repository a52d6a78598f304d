"""Reviews in, token ids out: IMDB from the hub or DATA_PATH, the synthetic corpus for the tiny
profile, a stratified validation split held out of train, and tokenisation cached on disk so
the five notebooks and ten runs tokenise each corpus once."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .hub import hub_reachable
from .paths import cache_dir

IMDB_HUB_NAME = "stanfordnlp/imdb"
SPLIT_SEED = 2024   # fixed: every run and every seed validates on the same held-out reviews
_LABEL_NAMES = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}


@dataclass
class Reviews:
    """Raw text and 0/1 labels (0 negative, 1 positive) of one split."""
    text: list[str]
    label: list[int]

    def __len__(self) -> int:
        return len(self.text)

    def subset(self, indices) -> "Reviews":
        return Reviews([self.text[i] for i in indices], [self.label[i] for i in indices])


def clean_text(text: str) -> str:
    # IMDB reviews keep their HTML line breaks; they are noise to the tokenizer.
    return " ".join(text.replace("<br />", " ").replace("<br/>", " ").split())


# ----------------------------------------------------------------------------- loading

def load_reviews(profile: str) -> dict[str, Reviews]:
    """{"train": Reviews, "test": Reviews} for a profile."""
    from .config import PROFILES

    name = PROFILES[profile].data
    if name == "synthetic":
        from .tiny import synthetic_data_dir
        return load_local(synthetic_data_dir())
    local = os.environ.get("DATA_PATH")
    if local:
        return load_local(local)
    return _load_imdb_from_hub()


def _load_imdb_from_hub() -> dict[str, Reviews]:
    import datasets

    if not hub_reachable():
        raise UserError("the Hugging Face hub is unreachable, so IMDB cannot be downloaded; set DATA_PATH to a "
                        "local copy (save_to_disk folder, parquet/CSV files or the aclImdb folder), or use "
                        "--profile tiny to run offline")
    loaded = datasets.load_dataset(IMDB_HUB_NAME)
    return {split: _from_columns(loaded[split].to_dict(), f"{IMDB_HUB_NAME}[{split}]") for split in ("train", "test")}


def load_local(path: str | os.PathLike) -> dict[str, Reviews]:
    """A `save_to_disk` folder, parquet/CSV files named train*/test*, or the aclImdb folder."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"DATA_PATH={path} does not exist; point it at IMDB saved locally (save_to_disk "
                        "folder, train/test parquet or CSV files, or aclImdb) or unset it to use the hub")
    if (path / "dataset_dict.json").is_file():
        return _load_saved_dataset(path)
    for root in (path, path / "aclImdb"):
        if (root / "train" / "pos").is_dir():
            return {split: _load_acl_split(root / split) for split in ("train", "test")}
    return _load_table_files(path)


def _load_saved_dataset(path: Path) -> dict[str, Reviews]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    missing = [s for s in ("train", "test") if s not in loaded]
    if missing:
        raise UserError(f"DATA_PATH={path} has no {' or '.join(missing)} split; save a DatasetDict with "
                        "'train' and 'test' splits")
    return {split: _from_columns(loaded[split].to_dict(), f"{path}[{split}]") for split in ("train", "test")}


def _load_acl_split(folder: Path) -> Reviews:
    text, label = [], []
    for name, value in (("neg", 0), ("pos", 1)):
        for file in sorted((folder / name).glob("*.txt")):
            text.append(file.read_text(encoding="utf-8"))
            label.append(value)
    if not text:
        raise UserError(f"{folder} has no neg/*.txt or pos/*.txt reviews; is DATA_PATH the aclImdb folder?")
    return _from_columns({"text": text, "label": label}, str(folder))


def _load_table_files(path: Path) -> dict[str, Reviews]:
    import pandas as pd

    splits = {}
    for split in ("train", "test"):
        files = sorted(p for p in path.rglob(f"{split}*") if p.suffix in {".parquet", ".csv"})
        if not files:
            raise UserError(f"DATA_PATH={path} has no {split}*.parquet or {split}*.csv file; name the files "
                            "train.parquet/test.parquet (or .csv) with columns 'text' and 'label'")
        frames = [pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f) for f in files]
        table = pd.concat(frames, ignore_index=True)
        splits[split] = _from_columns({c: table[c].tolist() for c in table.columns}, str(files[0]))
    return splits


def _from_columns(columns: dict, where: str) -> Reviews:
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        raise UserError(f"{where} lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, columns))}); "
                        "the data needs a 'text' column and a 'label' column (0/1 or neg/pos)")
    labels = []
    for value in columns["label"]:
        key = str(value).strip().lower()
        if key.endswith(".0"):
            key = key[:-2]
        if key not in _LABEL_NAMES:
            raise UserError(f"{where} has label {value!r}; labels must be 0/1, neg/pos or negative/positive")
        labels.append(_LABEL_NAMES[key])
    if len(set(labels)) < 2:
        raise UserError(f"{where} has only one label class; sentiment needs both negative and positive reviews")
    return Reviews([clean_text(str(t)) for t in columns["text"]], labels)


# ----------------------------------------------------------------------------- splitting

def stratified_split(labels: list[int], val_size: int, seed: int = SPLIT_SEED) -> tuple[list[int], list[int]]:
    """(train indices, validation indices): the validation set keeps the class balance of train."""
    import numpy as np

    if val_size >= len(labels):
        raise UserError(f"val_size={val_size} leaves no training reviews out of {len(labels)}; lower val_size")
    rng = np.random.default_rng(seed)
    labels_array = np.asarray(labels)
    val: list[int] = []
    classes = sorted(set(labels))
    for position, value in enumerate(classes):
        members = np.flatnonzero(labels_array == value)
        rng.shuffle(members)
        share = round(val_size * len(members) / len(labels))
        if position == len(classes) - 1:
            share = val_size - len(val)   # rounding leftovers go to the last class
        val += members[:share].tolist()
    chosen = set(val)
    train = [i for i in range(len(labels)) if i not in chosen]
    return train, sorted(val)


# ----------------------------------------------------------------------------- tokenising

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
    test_idx = _fixed_subsample(list(range(len(encoded["test"]))), settings.test_limit)
    return {"train": encoded["train"].subset(train_idx), "val": encoded["train"].subset(val_idx),
            "test": encoded["test"].subset(test_idx)}


def _fixed_subsample(indices: list[int], limit: int) -> list[int]:
    """A random subset with a fixed seed (IMDB's files are sorted by label, so never a prefix);
    fixed rather than the run seed so that seeds differ only in training randomness."""
    import numpy as np

    if not limit or limit >= len(indices):
        return indices
    return sorted(np.random.default_rng(SPLIT_SEED).choice(indices, limit, replace=False).tolist())
