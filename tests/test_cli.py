"""Bad input: exit 2, one line naming the problem and the fix, no traceback, nothing written."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.tools.cli import main

REPO = Path(__file__).resolve().parents[1]


def _snapshot(root: Path):
    return {p: p.stat().st_mtime_ns for folder in ("runs", "weights", "report") for p in (root / folder).rglob("*")}


@pytest.mark.parametrize("argv, message", [
    (["run", "lora_big"], "unknown run id 'lora_big'; valid run ids: full_ft, prompt_scratch_10"),
    (["run", "full_ft", "--profile", "huge"], "unknown profile 'huge'; valid profiles: full, tiny"),
    (["run", "full_ft", "--set", "epoch=3"], "unknown setting 'epoch'; valid settings: epochs"),
    (["run", "lora_scratch_8", "--set", "rank=0"], "rank=0 must be a positive whole number"),
    (["run", "adapter_scratch_8", "--set", "bottleneck=-1"], "bottleneck=-1 must be a positive whole number"),
    (["run", "prompt_scratch_10", "--set", "n_tokens=ten"], "n_tokens='ten' is not a whole number"),
    (["run", "full_ft", "--set", "epochs"], "is not KEY=VALUE"),
    (["run", "partial_ft_2", "--set", "trainable_blocks=0"], "trainable_blocks=0 must be a positive whole number"),
    (["run", "ia3_scratch", "--set", "rank=4"], "setting rank does not apply to run ia3_scratch (it has none)"),
    (["zero-shot", "--profile", "huge"], "unknown profile 'huge'; valid profiles: full, tiny"),
    (["zero-shot", "--profile", "tiny", "--set", "template=no-slot"], "must contain {text}"),
])
def test_bad_settings_refused_before_any_work(study_root, capsys, argv, message):
    before = _snapshot(study_root)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err and err.count("\n") == 1
    assert _snapshot(study_root) == before


def test_missing_data_path_and_model_path(study_root, capsys, monkeypatch, tmp_path):
    before = _snapshot(study_root)
    monkeypatch.setenv("DATA_PATH", str(tmp_path / "no-imdb"))
    assert main(["run", "full_ft", "--set", "epochs=1"]) == 2
    assert "DATA_PATH=" in capsys.readouterr().err
    monkeypatch.delenv("DATA_PATH")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "no-model"))
    assert main(["run", "full_ft", "--set", "epochs=1"]) == 2
    assert "MODEL_PATH=" in capsys.readouterr().err
    assert _snapshot(study_root) == before


def test_unreachable_hub_names_the_offline_options(study_root, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from helpers.study.sources import hub_reachable
    hub_reachable.cache_clear()
    assert main(["run", "full_ft"]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and "MODEL_PATH" in err and "--profile tiny" in err


def test_command_line_prints_one_line_without_traceback(study_root):
    env = dict(os.environ, PEFT_STUDY_ROOT=str(study_root))
    done = subprocess.run([sys.executable, "-m", "helpers", "run", "lora_scratch_8", "--set", "rank=0"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: setting rank=0 must be a positive whole number, e.g. rank=8"]


def test_bad_weight_files_refused_from_the_command_line(tiny_backbone_dir, study_root, tmp_path, capsys):
    """Truncated, foreign and other-shape weight files: one line each, nothing written."""
    import torch

    from helpers.study.settings import settings_for
    from helpers.training.experiment import run_experiment

    run_experiment("lora_scratch_8", settings_for("lora_scratch_8", "tiny", {"epochs": 1, "generate_eval": False}),
                   log=lambda *_: None)
    good = study_root / "weights" / "tiny" / "lora.pt"
    truncated, foreign = tmp_path / "truncated.pt", tmp_path / "foreign.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    torch.save({"state": torch.zeros(3)}, foreign)
    before = _snapshot(study_root)
    cases = [(["--weights", str(truncated)], "truncated or not a torch file"),
             (["--weights", str(foreign)], "is not a weights file of this project"),
             (["--set", "rank=4"], "holds lora of size 8, but the model has lora of size 4"),
             (["--weights", str(tmp_path / "missing.pt")], "does not exist")]
    for extra, message in cases:
        assert main(["evaluate", "lora_scratch_8", "--profile", "tiny", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert _snapshot(study_root) == before
    assert main(["evaluate", "lora_scratch_8", "--profile", "tiny"]) == 0
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("model, message", [
    ("google/t5-nonexistent", "model 'google/t5-nonexistent' is neither a local folder nor a known T5 checkpoint"),
    ("t5-base", "the Hugging Face hub is unreachable and MODEL_PATH (t5-base) is not set"),
    ("/no/such/t5", "model=/no/such/t5 is not a folder"),
])
def test_unknown_or_unreachable_model_refused_in_one_line(study_root, capsys, monkeypatch, model, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from helpers.study.sources import hub_reachable
    hub_reachable.cache_clear()
    before = _snapshot(study_root)
    assert main(["run", "lora_peft_8", "--profile", "tiny", "--set", f"model={model}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert _snapshot(study_root) == before


def test_saved_folder_as_model_writes_its_own_results(tiny_backbone_dir, tmp_path):
    """--set model=PATH: any save_pretrained folder; its results never touch the default model's."""
    import json
    import shutil

    from helpers.study.paths import results_dir, weights_dir

    folder = tmp_path / "my-t5"
    shutil.copytree(tiny_backbone_dir, folder)
    assert main(["run", "lora_scratch_8", "--profile", "tiny", "--set", f"model={folder}", "--set", "epochs=1",
                 "--set", "generate_eval=false", "--set", "train_limit=300", "--set", "test_limit=100"]) == 0
    record = json.loads((results_dir("tiny", str(folder)) / "lora_scratch_8.json").read_text())
    assert record["model"] == str(folder) and record["added_params"] == record["formula_added"] > 0
    assert results_dir("tiny", str(folder)).parent.parent.name == "models"
    assert (weights_dir("tiny", str(folder)) / "lora.pt").is_file()
