"""End to end on the tiny profile: the same code path as the real study, offline."""
import json

import pytest

from helpers.config import settings_for
from helpers.experiment import run_experiment
from helpers.paths import history_dir, results_dir, weights_dir

SPEC_KEYS = {"run_id", "notebook", "label", "profile", "seed", "epochs", "val_accuracy", "max_val_accuracy",
             "best_epoch", "test_accuracy", "total_params", "trainable_params", "added_params", "wall_seconds",
             "train_samples_per_second", "device", "versions"}


def test_full_finetuning_learns_on_tiny_profile(tiny_backbone_dir):
    record = run_experiment("full_ft", settings_for("full_ft", "tiny"), log=lambda *_: None)
    assert SPEC_KEYS <= set(record)
    stored = json.loads((results_dir("tiny") / "full_ft.json").read_text())
    assert stored["val_accuracy"] == record["val_accuracy"]
    assert len(record["val_accuracy"]) == record["epochs"] + 1          # epoch 0 first
    assert record["max_val_accuracy"] >= 0.70
    assert record["max_val_accuracy"] >= record["val_accuracy"][0] + 0.10
    assert record["val_accuracy"][record["best_epoch"]] == record["max_val_accuracy"]
    assert 0.0 <= record["test_invalid_rate"] <= 1.0


@pytest.mark.parametrize("run_id, weights_name", [("lora_scratch_8", "lora.pt"), ("adapter_adapterhub_1", "adapter_adapterhub_1")])
def test_peft_runs_learn_and_save_weights(tiny_backbone_dir, run_id, weights_name):
    settings = settings_for(run_id, "tiny", {"epochs": 3})
    record = run_experiment(run_id, settings, log=lambda *_: None)
    assert record["max_val_accuracy"] >= 0.70
    assert record["max_val_accuracy"] >= record["val_accuracy"][0] + 0.10
    assert record["trainable_params"] == record["added_params"] == record["formula_added"] > 0
    assert (weights_dir("tiny") / weights_name).exists()


def test_same_seed_same_numbers_and_rerun_keeps_history(tiny_backbone_dir):
    settings = settings_for("prompt_scratch_10", "tiny", {"epochs": 2, "generate_eval": False})
    first = run_experiment("prompt_scratch_10", settings, log=lambda *_: None)
    archived_before = set(history_dir("tiny").glob("prompt_scratch_10-*.json")) if history_dir("tiny").exists() else set()
    second = run_experiment("prompt_scratch_10", settings, log=lambda *_: None)
    assert first["val_accuracy"] == second["val_accuracy"]
    archived = set(history_dir("tiny").glob("prompt_scratch_10-*.json")) - archived_before
    assert len(archived) == 1
    assert json.loads(next(iter(archived)).read_text())["finished_at"] == first["finished_at"]


def test_interrupted_run_resumes_to_identical_numbers(tiny_backbone_dir):
    settings = settings_for("lora_scratch_8", "tiny", {"epochs": 3, "generate_eval": False})
    unbroken = run_experiment("lora_scratch_8", settings, log=lambda *_: None)

    def stop_after_epoch_one(line):
        if line.startswith("epoch 2/3"):
            raise KeyboardInterrupt   # as Ctrl-C or SIGTERM during epoch 2
    with pytest.raises(KeyboardInterrupt):
        run_experiment("lora_scratch_8", settings, log=stop_after_epoch_one)
    lines = []
    resumed = run_experiment("lora_scratch_8", settings, resume=True, log=lines.append)
    assert any(line.startswith("resumed lora_scratch_8 (seed 0) after epoch 1/3") for line in lines)
    assert resumed["val_accuracy"] == unbroken["val_accuracy"]


def test_resume_with_other_settings_is_refused(tiny_backbone_dir):
    from helpers.errors import UserError

    settings = settings_for("adapter_scratch_8", "tiny", {"epochs": 1, "generate_eval": False})
    run_experiment("adapter_scratch_8", settings, log=lambda *_: None)
    other = settings_for("adapter_scratch_8", "tiny", {"epochs": 2, "generate_eval": False})
    with pytest.raises(UserError, match="written with other settings \\(epochs\\)"):
        run_experiment("adapter_scratch_8", other, resume=True, log=lambda *_: None)


def test_two_processes_write_one_results_file(tiny_backbone_dir, study_root):
    """torchrun with 2 CPU processes (gloo): data sharded, metrics gathered, one writer."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "helpers", "run",
                           "lora_peft_1", "--profile", "tiny", "--set", "epochs=2", "--set", "generate_eval=false"],
                          cwd=repo, env=dict(os.environ, PEFT_STUDY_ROOT=str(study_root)), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results: ") == 1 and "x 2 process(es)" in done.stdout
    record = json.loads((results_dir("tiny") / "lora_peft_1.json").read_text())
    assert record["max_val_accuracy"] >= 0.70
    assert record["processes"] == 2
