"""The report builds from whatever results exist: missing and malformed runs become "—" with a
warning, and every number in it comes from a results file (or is a labelled reference)."""
import json

from helpers.study.paths import report_dir, results_dir
from helpers.report.document import build_report


def _record(run_id, label, accuracy, trainable, added, formula):
    return {"run_id": run_id, "label": label, "profile": "tiny", "model": "tiny", "data": "synthetic", "seed": 0,
            "seeds": [0], "epochs": 2, "val_accuracy": [0.5, accuracy - 0.01, accuracy], "max_val_accuracy": accuracy,
            "max_val_accuracy_std": 0.0, "best_epoch": 2, "test_accuracy": accuracy - 0.02, "test_accuracy_std": 0.0,
            "test_generate_accuracy": accuracy - 0.03, "test_invalid_rate": 0.0125, "total_params": 1000 + added,
            "trainable_params": trainable, "added_params": added, "formula_added": formula, "formula": "n x d",
            "weights_bytes": 4321, "wall_seconds": 12.0, "device": "cpu: test", "versions": {"torch": "x"},
            "git_commit": "abc", "finished_at": "2026-01-01 00:00:00"}


def _write_results(tmp_path, monkeypatch, files: dict):
    """A study root in tmp_path holding these tiny results files (name -> record, or raw text)."""
    monkeypatch.setenv("PEFT_STUDY_ROOT", str(tmp_path))
    folder = results_dir("tiny")
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / f"{name}.json").write_text(content if isinstance(content, str) else json.dumps(content))


def test_report_with_missing_and_malformed_runs(study_root, tmp_path, monkeypatch):
    _write_results(tmp_path, monkeypatch, {
        "full_ft": _record("full_ft", "Full Fine-Tuning (#1)", 0.8625, 1000, 0, 0),
        "lora_scratch_8": _record("lora_scratch_8", "LoRA_8 (#5)", 0.8475, 96, 96, 96),
        "prompt_scratch_10": '{"run_id": "prompt_scratch_10", "val_accuracy": [0.5'})   # truncated
    warnings = []
    pdf = build_report("tiny", log=warnings.append)
    assert pdf.is_file() and pdf.stat().st_size > 10_000 and pdf.read_bytes().startswith(b"%PDF")
    markdown = (report_dir("tiny") / "report.md").read_text()
    assert "| Full Fine-Tuning (#1) | 86.2 | 2 | 84.2 | 1,000 | 90.0 | 90.1 | 90.0 |" in markdown
    assert "| LoRA_8 (#5) | 84.8 |" in markdown
    assert "| Soft Prompt Tuning_10 (#2) | — | — | — | — | 86.8 |" in markdown   # malformed -> dash, reference kept
    assert "| Adapter_8 (#3) | — |" in markdown                                  # missing -> dash
    assert "synthetic offline demo" in markdown and "NOT comparable" in markdown
    assert any("prompt_scratch_10" in w and "not valid JSON" in w for w in warnings)
    assert sum("no results file" in w for w in warnings) == 7 + 7 + 1 + 1   # the ten, notebook 06, zero-shot, 07
    assert (report_dir("tiny") / "accuracy_per_epoch.png").is_file()


def test_report_keeps_the_extensions_and_zero_shot_in_tables_of_their_own(study_root, tmp_path, monkeypatch):
    _write_results(tmp_path, monkeypatch, {
        "full_ft": _record("full_ft", "Full Fine-Tuning (#1)", 0.8625, 1000, 0, 0),
        "ia3_peft": _record("ia3_peft", "(IA)^3_PEFT", 0.8125, 80, 80, 80),
        "zero_shot": {"run_id": "zero_shot", "templates": {
            "plain": {"template": "{text}", "val_accuracy": 0.54, "test_accuracy": 0.547},
            "<sentiment>": {"template": "<sentiment> {text}", "val_accuracy": 0.8625, "test_accuracy": 0.862}}}})
    build_report("tiny", log=lambda *_: None)
    markdown = (report_dir("tiny") / "report.md").read_text()
    table_1 = markdown[markdown.index("## Table 1"):markdown.index("## Table 2")]
    assert "(IA)^3" not in table_1 and table_1.count("\n| ") == 11            # header + the ten, nothing else
    assert "| (IA)^3_PEFT | 81.2 | 2 | 79.2 | 78.2 | 1.25 | 80 | 80 | 80 | yes |" in markdown
    assert "| BitFit | — |" in markdown                                     # a missing extension: dashes
    assert "| plain | {text} | 54.0 | 54.7 |" in markdown
    assert "| <sentiment> | <sentiment> {text} | 86.2 | 86.2 |" in markdown
    assert "| epoch 0 of the ten runs | {text} + each method at initialisation | 50.0 | — |" in markdown
    assert (report_dir("tiny") / "accuracy_per_epoch_beyond.png").is_file()


def test_report_pdf_text_holds_all_ten_labels(study_root, tmp_path, monkeypatch):
    from helpers.study.runs import RUNS

    monkeypatch.setenv("PEFT_STUDY_ROOT", str(tmp_path))
    pdf = build_report("tiny", log=lambda *_: None)   # no results at all: still builds
    from pypdf import PdfReader
    text = " ".join(page.extract_text() for page in PdfReader(str(pdf)).pages)
    assert all(run.label in text for run in RUNS)
