"""Runtimes for the cards students have, labelled as projections everywhere (bench, notebooks),
the non-default marker of the report, and the GPU check's reduced CPU form (issue 21)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from helpers.tools.projection import CARDS, COLAB_CHOICES, notebook_flops, projection_rows

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def test_bench_projection_prints_every_card_labelled_as_a_projection(capsys):
    from helpers.tools.cli import main

    assert main(["bench", "--projection"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("PROJECTION, not a measurement")
    assert "T4 (fp32)" in text and all(f"{card.name} (bf16)" in text for card in CARDS if card.name != "T4")
    assert "PROJECTION for a free Colab T4" in text
    assert main(["bench", "--projection", "--set", "epochs=ten"]) == 2   # refused in one line


def test_lowering_a_setting_lowers_every_notebooks_projected_time():
    default = notebook_flops()
    for choice in COLAB_CHOICES[1:]:
        lowered = notebook_flops(choice)
        assert all(lowered[name] < default[name] for name in default), choice


def test_each_notebooks_runtime_line_gives_the_projection_the_code_computes():
    rows = dict(projection_rows())
    for path in sorted(NOTEBOOK_DIR.glob("0*.ipynb")):
        first = "".join(json.loads(path.read_text())["cells"][0]["source"])
        runtime = next(line for line in first.splitlines() if line.startswith("**Runtime.**"))
        assert "**projection**" in runtime, path.name
        for card, span in zip(CARDS, rows[path.stem]):
            assert f"{card.name}{' (fp32)' if card.precision == 'fp32' else ''} {span}" in runtime, (path.name, card)


def test_report_marks_non_default_runs_and_records_the_precision(study_root, tmp_path, monkeypatch):
    from helpers.report.document import build_report
    from helpers.study.paths import report_dir, results_dir
    from helpers.study.settings import non_default_settings, settings_for

    monkeypatch.setenv("PEFT_STUDY_ROOT", str(tmp_path))
    changed = non_default_settings("lora_scratch_8", settings_for("lora_scratch_8", "tiny", {"epochs": 3, "precision": "bf16"}))
    assert changed == {"epochs": 3}   # precision changes how it runs, not what it measures
    record = {"run_id": "lora_scratch_8", "label": "LoRA_8 (#5)", "profile": "tiny", "epochs": 3,
              "val_accuracy": [0.5, 0.8], "max_val_accuracy": 0.8, "best_epoch": 1, "test_accuracy": 0.79,
              "total_params": 10, "trainable_params": 2, "added_params": 2, "precision": "bf16",
              "non_default_settings": changed}
    folder = results_dir("tiny")
    folder.mkdir(parents=True)
    (folder / "lora_scratch_8.json").write_text(json.dumps(record))
    build_report("tiny", log=lambda *_: None)
    text = (report_dir("tiny") / "report.md").read_text()
    assert "| LoRA_8 (#5) * |" in text and "LoRA_8 (#5): non-default settings: epochs=3" in text
    assert re.search(r"precision\W+bf16", text)


def test_gpu_check_runs_its_reduced_form_on_a_cpu(capsys):
    from helpers.tools.gpu_check import main

    assert main(cpu_smoke=True) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith(("lora_scratch_8", "full_ft"))]
    assert len(rows) == 4 and sum("bf16" in r for r in rows) == 2 and sum("fp32" in r for r in rows) == 2
    assert all("same model" in r for r in rows) and "DIFFERENT" not in text
    assert "train samples/s" in text
