"""End to end on the tiny profile: the same code path as the real study, offline."""
import json

import pytest

from helpers.study.settings import settings_for
from helpers.training.experiment import run_experiment
from helpers.study.paths import history_dir, results_dir, weights_dir

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
    import torch

    from helpers.training.runtime import DEFAULT_THREADS

    settings = settings_for("prompt_scratch_10", "tiny", {"epochs": 2, "generate_eval": False})
    first = run_experiment("prompt_scratch_10", settings, log=lambda *_: None)
    archived_before = set(history_dir("tiny").glob("prompt_scratch_10-*.json")) if history_dir("tiny").exists() else set()
    torch.set_num_threads(2)   # whatever the caller had: the tiny profile trains on its one thread
    try:
        second = run_experiment("prompt_scratch_10", settings, log=lambda *_: None)
        assert torch.get_num_threads() == 1 and second["device"].endswith(", 1 torch thread(s)")
    finally:
        torch.set_num_threads(DEFAULT_THREADS)
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
    from helpers import UserError

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


def test_fit_trains_the_model_it_is_given_and_saves_those_weights(tiny_backbone_dir):
    """The notebook's contract: the object handed to fit is trained in place, ends with the best
    epoch's weights, and those are the weights written to lora.pt."""
    import torch

    from helpers.methods.lora import add_lora
    from helpers.methods.weights import read_method_tensors
    from helpers.training.experiment import Experiment

    experiment = Experiment("lora_scratch_8", settings_for("lora_scratch_8", "tiny", {"epochs": 2, "generate_eval": False}),
                            log=lambda *_: None)
    model = add_lora(experiment.backbone(), rank=8, alpha=8, dropout=0.1)
    assert all(p.abs().sum() == 0 for n, p in model.named_parameters() if n.endswith("lora_B"))
    result = experiment.fit(model)
    trained = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    assert all(p.abs().sum() > 0 for n, p in trained.items() if n.endswith("lora_B"))
    saved = read_method_tensors(weights_dir("tiny") / "lora.pt")["tensors"]
    assert set(saved) == set(trained) and all(torch.equal(saved[n], trained[n]) for n in trained)
    record = experiment.finish()
    assert record["val_accuracy"] == result.val_accuracy and record["best_epoch"] == result.best_epoch


def test_weight_decay_only_on_matrices_never_on_vectors_or_prompts(small_t5):
    import torch

    from helpers.methods.adapter import add_adapters
    from helpers.methods.prompt import SoftPromptT5
    from helpers.training.loop import make_optimizer

    settings = settings_for("adapter_scratch_8", "tiny")
    model = SoftPromptT5(small_t5, torch.zeros(3, small_t5.config.d_model))
    add_adapters(model.backbone, bottleneck=4)   # (freezes the backbone, not the prompt beside it)
    groups = {group["weight_decay"]: {id(p) for p in group["params"]} for group in make_optimizer(model, settings).param_groups}
    names = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    decayed = {names[i] for i in groups[settings.weight_decay]}
    not_decayed = {names[i] for i in groups[0.0]}
    assert decayed == {n for n in names.values() if n.endswith(("down.weight", "up.weight"))}
    assert not_decayed == {n for n in names.values() if n.endswith(".bias")} | {"soft_prompt.prompt"}
    full = make_optimizer(small_t5.requires_grad_(True), settings_for("full_ft", "tiny"))
    vectors = [p for group in full.param_groups if group["weight_decay"] == 0.0 for p in group["params"]]
    assert vectors and all(p.ndim == 1 for p in vectors)   # the layer-norm scales of full fine-tuning
