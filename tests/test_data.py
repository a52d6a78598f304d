import pytest

from helpers.data.reviews import load_local, stratified_split
from helpers import UserError

TRAIN = {"text": ["good film", "bad <br />film", "great", "awful", "fine", "dull"], "label": [1, 0, 1, 0, 1, 0]}
TEST = {"text": ["nice", "poor"], "label": ["pos", "neg"]}


def _check(splits):
    assert splits["train"].text[1] == "bad film"   # <br /> removed
    assert splits["train"].label == TRAIN["label"]
    assert splits["test"].label == [1, 0]


def test_parquet_files(tmp_path):
    import pandas as pd
    pd.DataFrame(TRAIN).to_parquet(tmp_path / "train.parquet")
    pd.DataFrame(TEST).to_parquet(tmp_path / "test.parquet")
    _check(load_local(tmp_path))


def test_csv_files(tmp_path):
    import pandas as pd
    pd.DataFrame(TRAIN).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(TEST).to_csv(tmp_path / "test.csv", index=False)
    _check(load_local(tmp_path))


def test_save_to_disk_folder(tmp_path):
    import datasets
    test = dict(TEST, label=[1, 0])
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(TRAIN), "test": datasets.Dataset.from_dict(test)}).save_to_disk(tmp_path / "imdb")
    _check(load_local(tmp_path / "imdb"))


def test_aclimdb_folder(tmp_path):
    root = tmp_path / "aclImdb"
    for split, rows in (("train", TRAIN), ("test", {"text": TEST["text"], "label": [1, 0]})):
        for i, (text, label) in enumerate(zip(rows["text"], rows["label"])):
            folder = root / split / ("pos" if label == 1 else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_7.txt").write_text(text)
    splits = load_local(tmp_path)   # the folder above aclImdb works too
    assert sorted(splits["train"].label) == sorted(TRAIN["label"])
    assert "bad film" in splits["train"].text


def test_wrong_columns_name_the_fix(tmp_path):
    import pandas as pd
    pd.DataFrame({"review": ["a"], "sentiment": [1]}).to_parquet(tmp_path / "train.parquet")
    pd.DataFrame({"review": ["a"], "sentiment": [1]}).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(UserError, match="lacks column\\(s\\) text, label .*needs a 'text' column"):
        load_local(tmp_path)


def test_missing_path_and_missing_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_local(tmp_path / "nowhere")
    with pytest.raises(UserError, match="has no train\\*.parquet or train\\*.csv"):
        load_local(tmp_path)


def test_stratified_split_keeps_balance_and_is_fixed():
    labels = [1] * 700 + [0] * 300
    train, val = stratified_split(labels, 100)
    assert len(val) == 100 and sum(labels[i] for i in val) == 70
    assert not set(train) & set(val) and len(train) + len(val) == 1000
    assert stratified_split(labels, 100) == (train, val)


def test_synthetic_corpus_is_deterministic_and_balanced():
    from helpers.data import synthetic
    first, again = synthetic.make_split(500, 7), synthetic.make_split(500, 7)
    assert first == again
    assert 0.4 < sum(first["label"]) / 500 < 0.6
    assert any(" not " in f" {t} " for t in first["text"])   # negations are present


def test_tiny_backbone_is_pretrained_with_a_fixed_thread_count(monkeypatch):
    """torchrun starts processes with one thread; the backbone must not depend on who built it."""
    import torch

    from helpers.models import tiny

    seen = []
    monkeypatch.setattr(tiny, "_pretrain", lambda: seen.append(torch.get_num_threads()) or "built")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert tiny.pretrain_tiny_backbone() == "built"
        assert seen == [tiny.PRETRAIN["threads"]] and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
