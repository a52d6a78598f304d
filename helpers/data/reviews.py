"""Reviews as text: IMDB from the hub or DATA_PATH (a save_to_disk folder, parquet/CSV files or
the aclImdb folder), the synthetic corpus for the tiny profile, and the stratified validation
split held out of train."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from helpers import UserError
from helpers.study.sources import hub_reachable

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
    from helpers.study.settings import PROFILES

    name = PROFILES[profile].data
    if name == "synthetic":
        from helpers.data.synthetic import synthetic_data_dir
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
