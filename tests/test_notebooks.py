"""The notebooks as a student runs them, executed by papermill on the tiny profile: each builds
its model in a visible line, trains that very object and proves it (the reload check compares
the notebook's `model` with its saved weights), and gives the numbers the CLI gives."""
import json
from pathlib import Path

import pytest

from helpers.notebook.runner import NOTEBOOKS
from helpers.study.runs import ALL_RUNS, HALVES

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
# The line that builds each notebook's model, with the library's own calls for the library runs.
BUILD_LINES = {
    "01_full_finetuning": ["model = backbone.requires_grad_(True)"],
    "02_prompt_tuning": ["model = SoftPromptT5(backbone, initial)", "SoftPromptModel(backbone, soft_token_num=n_tokens"],
    "03_adapter": ["model = add_adapters(backbone, bottleneck=cfg.bottleneck)"],
    "04_adapter_adapterhub": ["adapters.init(backbone)", "backbone.add_adapter(ADAPTER_NAME, config=config)"],
    "05_lora": ["model = add_lora(backbone, rank=cfg.rank, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout)",
                "get_peft_model(backbone, config)"],
    "06_beyond": ["model = PrefixT5(backbone, prefix_init(", "model = add_ia3(backbone)", "model = add_bitfit(backbone)",
                  "IA3Config(task_type=TaskType.SEQ_2_SEQ_LM)", "model = bitfit_model(experiment.backbone())",
                  "model = train_last_blocks(experiment.backbone(), blocks=blocks)"],
    "07_arithmetic": ["model = add_lora(experiment.backbone(), rank=cfg.rank", "combination_type=\"cat\")",
                      "combine_strategy=\"lora_linear_only_negate_b\""],
}
IDENTITY_CHECKED = {"03_adapter": 1, "04_adapter_adapterhub": 1, "05_lora": 3, "06_beyond": 4}
# Runs whose saved weights are reloaded and compared with the notebook's trained `model`.
RELOADED = {"02_prompt_tuning": 3, "03_adapter": 1, "04_adapter_adapterhub": 2, "05_lora": 3, "06_beyond": 6}
_executed: dict = {}


def executed(name):
    """Run a notebook once per test session, one epoch per run: (code, outputs, its runs' records)."""
    if name not in _executed:
        from helpers.notebook.runner import run_notebooks
        from helpers.study.paths import runs_dir
        from helpers.study.results import results_path

        assert run_notebooks("tiny", "-p epochs 1", only=[name]) == 0
        notebook = json.loads((runs_dir("tiny") / "notebooks" / f"{name}.ipynb").read_text())
        cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        code = "\n".join("".join(c["source"]) for c in cells)
        outputs = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                          for c in cells for o in c.get("outputs", []))
        records = {run.run_id: json.loads(results_path("tiny", run.run_id).read_text())
                   for run in ALL_RUNS + HALVES if run.notebook == name}
        _executed[name] = code, outputs, records
    return _executed[name]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_clean_with_one_parameters_cell(name):
    notebook = json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    for parameter in ("profile = ", "resume = ", "output_dir = "):
        assert parameter in "".join(tagged[0]["source"])


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_builds_trains_and_reloads_its_own_model(tiny_backbone_dir, name):
    code, text, records = executed(name)
    for line in BUILD_LINES[name]:
        assert line in code
    assert "epoch 1/1" in text and "val_accuracy=" in text
    assert "transformers" in text and "4.57" in text                    # the versions cell
    assert ("match" in text or name == "07_arithmetic") and "MISMATCH" not in text and "DIFFERENT" not in text
    assert text.count("-> identical") == IDENTITY_CHECKED.get(name, 0) and "NOT identical" not in text
    # The reload check loads the saved weights into a fresh backbone and compares its logits with
    # the notebook's `model`: equal only if `model` is the trained object (B = 0 / W_up = 0 otherwise).
    assert text.count("-> same model") == RELOADED.get(name, 0)
    for record in records.values():   # one epoch: the loss falls within it (accuracy may not move yet)
        steps = record["per_seed"][0]["step_loss"]
        assert sum(steps[-10:]) < sum(steps[:10]), record["run_id"]


def test_notebook_01_shows_the_one_epoch_step_and_its_loss_going_down(tiny_backbone_dir):
    code, text, records = executed("01_full_finetuning")
    for piece in ("def train_one_epoch", "accelerator.backward(loss)", "clip_grad_norm_", "self.optimizer.step()",
                  "self.scheduler.step()", "def label_logits"):
        assert piece in text
    assert "mean training loss per epoch" in text
    steps = records["full_ft"]["per_seed"][0]["step_loss"]           # the loss of every step of the epoch
    assert len(steps) > 20 and sum(steps[-10:]) < 0.5 * sum(steps[:10])


# One run per way of building (scratch, OpenDelta, AdapterHub, PEFT): each costs a training run in CI.
@pytest.mark.parametrize("run_id", ["prompt_opendelta_1", "adapter_adapterhub_1", "lora_scratch_8", "prefix_peft_10"])
def test_cli_gives_the_notebooks_numbers(tiny_backbone_dir, run_id):
    """The notebook builds its model by hand, the CLI through the registry: same settings, same numbers."""
    from helpers.study.runs import get_run
    from helpers.study.settings import settings_for
    from helpers.training.experiment import run_experiment

    notebook_record = executed(get_run(run_id).notebook)[2][run_id]
    cli_record = run_experiment(run_id, settings_for(run_id, "tiny", {"epochs": 1}), log=lambda *_: None)
    for key in ("val_accuracy", "test_accuracy", "test_generate_accuracy", "trainable_params", "added_params"):
        assert cli_record[key] == notebook_record[key], key
    assert cli_record["per_seed"][0]["train_loss"] == notebook_record["per_seed"][0]["train_loss"]


def test_bad_parameter_stops_the_notebook_at_its_settings_cell(tiny_backbone_dir, capfd):
    """papermill parameters go through the same validation as the CLI; the failing notebook
    stops at the cell that first asks for settings, says why, and the runner reports it.
    The kernel's own stderr (captured at the file descriptor) has no TCP warning: IPC sockets."""
    from helpers.notebook.runner import run_notebooks
    from helpers.study.paths import runs_dir

    assert run_notebooks("tiny", "-p epochs 0", only=["03_adapter"]) == 1
    err = capfd.readouterr().err
    assert "without encryption" not in err
    assert "03_adapter" in err and "FAILED in cell" in err
    assert "UserError: setting epochs=0 must be a positive whole number" in err
    notebook = json.loads((runs_dir("tiny") / "notebooks" / "03_adapter.ipynb").read_text())
    failed = [c for c in notebook["cells"] if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1 and 'cfg = settings("adapter_scratch_8")' in "".join(failed[0]["source"])


def test_side_by_side_notebooks_each_report_their_own_failure(tiny_backbone_dir, capsys):
    """--jobs 2 runs a stage's notebooks in two worker processes; each failure is its own."""
    from helpers.notebook.runner import run_notebooks

    assert run_notebooks("tiny", "-p epochs 0", only=["04_adapter_adapterhub", "03_adapter"], jobs=2) == 1
    err = capsys.readouterr().err
    assert "04_adapter_adapterhub FAILED in cell" in err and "03_adapter FAILED in cell" in err
    assert "failed notebooks: " in err


def test_runner_refuses_unknown_notebooks_and_jobs(study_root):
    from helpers import UserError
    from helpers.notebook.runner import NOTEBOOKS, STAGES, run_notebooks

    assert sorted(n for stage in STAGES for n in stage) == sorted(NOTEBOOKS)   # every notebook runs in one stage
    with pytest.raises(UserError, match="unknown notebook '08_x'; the notebooks are: 01_full_finetuning"):
        run_notebooks("tiny", only=["08_x"])
    with pytest.raises(UserError, match="--jobs 0"):
        run_notebooks("tiny", jobs=0)


def test_notebook_06_shows_the_zero_shot_backbone_beside_epoch_0(tiny_backbone_dir):
    from helpers.report.tables import load_zero_shot

    code, text, records = executed("06_beyond")
    assert "zero-shot, template '{text}'" in text and "zero-shot, template '<sentiment> {text}'" in text
    zero, warnings = load_zero_shot("tiny")
    assert not warnings and set(zero["templates"]) == {"plain", "<sentiment>"}
    # The plain template is what every run sees at epoch 0; methods that start unchanged score the same.
    assert zero["templates"]["plain"]["val_accuracy"] == records["ia3_scratch"]["val_accuracy"][0]


def test_notebook_07_composes_modules_and_measures_the_libraries_against_scratch(tiny_backbone_dir):
    from helpers.report.tables import load_arithmetic

    code, text, records = executed("07_arithmetic")
    assert set(records) == {"lora_half_1", "lora_half_2"}
    halves = [records[run_id]["settings"]["train_part"] for run_id in ("lora_half_1", "lora_half_2")]
    assert halves == ["1/2", "2/2"] and sum(len(r["per_seed"]) for r in records.values()) == 2
    record, warnings = load_arithmetic("tiny")
    assert not warnings
    differences, models = record["max_logit_differences"], record["models"]
    assert differences["sum: scratch vs PEFT cat"] < 1e-4 and differences["sum: scratch vs adapters svd"] < 1e-3
    assert differences["sum: scratch vs PEFT linear"] > 1e-3             # the cross terms, shown not hidden
    assert differences["negation: scratch vs PEFT"] < 1e-4 and differences["negation: scratch vs adapters"] < 1e-4
    assert models["negated, adapters (default)"]["test_flip_rate"]["all reviews"] == 0.0   # the pitfall
    assert models["negated, scratch"]["test_flip_rate"]["all reviews"] > 0.0
    assert "(IA)^3, negated" in models or "the (IA)^3 negation is skipped" in text
