"""The full profile's real path on the real IMDB reviews beside the repository (../shared/data/imdb),
offline: a t5-small-shaped model with random weights and a T5-style tokenizer trained on the real
training reviews, saved as a MODEL_PATH folder; DATA_PATH at the reviews. Random weights mean the
accuracies mean nothing: the test asserts the path (loading, 512-token tokenisation of all 50,000
reviews, training, scoring, generate, results file, counts and weights)."""
import json
import time

import pytest

from helpers.data.real_imdb import missing_reason, shared_imdb_dir

IMDB = shared_imdb_dir()
pytestmark = pytest.mark.skipif(IMDB is None, reason=missing_reason())


def test_aclimdb_folder_form_loads_the_same_reviews(tmp_path):
    """The original aclImdb layout (train/pos/0_9.txt ...), written from the parquet files."""
    import pandas as pd

    from helpers.data.reviews import load_local

    for split in ("train", "test"):
        table = pd.read_parquet(IMDB / f"{split}.parquet")
        for folder in ("pos", "neg"):
            (tmp_path / "aclImdb" / split / folder).mkdir(parents=True)
        for text, file in zip(table["text"], table["file"]):
            (tmp_path / "aclImdb" / split / file).write_text(text, encoding="utf-8")
    from_folder, from_parquet = load_local(tmp_path), load_local(IMDB)
    for split in ("train", "test"):
        assert len(from_folder[split]) == len(from_parquet[split]) == 25_000
        assert sum(from_folder[split].label) == 12_500
        assert sorted(zip(from_folder[split].text, from_folder[split].label)) == \
            sorted(zip(from_parquet[split].text, from_parquet[split].label))


def test_rehearsal_of_the_full_profile_on_real_reviews(study_root, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from helpers.data.real_imdb import imdb_tokenizer_dir
    from helpers.models.shapes import architecture
    from helpers.study.paths import results_dir, weights_dir
    from helpers.tools.cli import main

    started = time.time()
    tokenizer = AutoTokenizer.from_pretrained(imdb_tokenizer_dir())
    assert [len(tokenizer(w, add_special_tokens=False)["input_ids"]) for w in ("positive", "negative")] == [1, 1]
    model_dir = tmp_path / "t5-small-random"
    architecture("t5-small").save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    monkeypatch.setenv("MODEL_PATH", str(model_dir))
    monkeypatch.setenv("DATA_PATH", str(IMDB))
    # The full profile's defaults (512 tokens, generate on the test reviews) on a small subset.
    assert main(["run", "lora_peft_8", "--profile", "full", "--set", "epochs=1", "--set", "train_limit=16",
                 "--set", "val_size=16", "--set", "test_limit=16", "--set", "batch_size=8",
                 "--set", "eval_batch_size=16"]) == 0
    record = json.loads((results_dir("full") / "lora_peft_8.json").read_text())
    assert record["profile"] == "full" and record["model"] == "t5-small" and record["settings"]["max_length"] == 512
    assert record["total_params"] == 60_801_536 and record["added_params"] == record["trainable_params"] == 294_912
    assert len(record["val_accuracy"]) == 2 and 0.0 <= record["test_accuracy"] <= 1.0
    assert 0.0 <= record["test_generate_accuracy"] <= 1.0 and 0.0 <= record["test_invalid_rate"] <= 1.0
    assert (weights_dir("full") / "lora_peft_8" / "adapter_model.safetensors").is_file()
    print(f"rehearsal: {time.time() - started:.0f} s")
