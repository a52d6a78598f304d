import json
from pathlib import Path

import pytest

from helpers.notebook_runner import NOTEBOOKS

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_committed_clean_with_one_parameters_cell(name):
    notebook = json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "profile = " in "".join(tagged[0]["source"])


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes_on_tiny_profile(tiny_backbone_dir, name, capsys):
    from helpers.notebook_runner import run_notebooks
    from helpers.paths import runs_dir

    assert run_notebooks("tiny", "-p epochs 2", only=[name]) == 0
    executed = json.loads((runs_dir("tiny") / "notebooks" / f"{name}.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "epoch 2/2" in text and "val_accuracy=" in text
    assert "transformers" in text and "4.57" in text                    # the versions cell
    assert "match" in text and "MISMATCH" not in text and "DIFFERENT" not in text


def test_bad_parameter_stops_the_notebook_with_the_validation_error(tiny_backbone_dir, capsys):
    """papermill parameters go through the same validation as the CLI; the failing notebook
    stops at its settings cell, says why, and the runner reports it (exit status 1)."""
    from helpers.notebook_runner import run_notebooks

    assert run_notebooks("tiny", "-p epochs 0", only=["03_adapter"]) == 1
    err = capsys.readouterr().err
    assert "03_adapter" not in err or "FAILED in cell" in err
    assert "UserError: setting epochs=0 must be a positive whole number" in err
