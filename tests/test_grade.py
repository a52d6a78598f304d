"""The handout and the grader: the solution grades 100%, the untouched handout 0% ("not
implemented"), three planted bugs each lose exactly their items, an endless loop stops at the time
limit, a syntax error costs the items it breaks, and grading writes nothing into the repository."""
import json
from pathlib import Path

import nbformat
import pytest

from helpers import UserError
from helpers.teaching.grade import grade_notebook, main
from helpers.teaching.handout import make_handout, piece_tag
from helpers.teaching.items import ITEMS

REPO = Path(__file__).resolve().parents[1]
GRADED = ("02_prompt_tuning", "03_adapter", "05_lora")
# Each bug is planted in a handout completed with the solution: (notebook, solution line, bug, items lost).
BUGS = {
    "lora_B_random": ("05_lora", "self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))",
                      "self.lora_B = nn.Parameter(torch.randn(base.out_features, rank))", {"lora.identity"}),
    "adapter_no_residual": ("03_adapter", "return hidden + self.up(torch.relu(self.down(hidden)))",
                            "return self.up(torch.relu(self.down(hidden)))", {"adapter.identity", "adapter.library"}),
    "prompt_mask_not_extended": ("02_prompt_tuning", "torch.cat([ones, mask], dim=1)", "mask",
                                 {"prompt.forward", "prompt.library", "prompt.learns"}),
}


@pytest.fixture(scope="module")
def handouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("handout")
    make_handout(root / "blank")
    make_handout(root / "solved", solved=True)
    return root


def _failed(graded):
    return {row["item"] for row in graded["items"] if not row["passed"]}


def _edit(path, old, new, target):
    """A copy of the notebook at `path` with `old` replaced by `new` in its tagged cells."""
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code" and piece_tag(c) and old in c.source]
    assert len(cells) == 1, old
    cells[0].source = cells[0].source.replace(old, new)
    nbformat.write(notebook, target)
    return target


def _snapshot():
    folders = [REPO / name for name in ("runs", "weights", "report", "notebooks")]
    return {str(p): p.stat().st_mtime_ns for folder in folders if folder.exists() for p in [folder, *folder.rglob("*")]}


def test_handout_clears_each_piece_and_keeps_every_other_cell(handouts):
    for name in GRADED:
        solution = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        blank = nbformat.read(handouts / "blank" / f"{name}.ipynb", as_version=4)
        assert len(solution.cells) == len(blank.cells)
        tagged = [(s, b) for s, b in zip(solution.cells, blank.cells) if piece_tag(s)]
        assert len(tagged) == 2   # the method's pieces and its count formula
        assert all(s.source == b.source for s, b in zip(solution.cells, blank.cells) if not piece_tag(s))
        for _, b in tagged:
            assert "raise NotImplementedError()" in b.source and "BEGIN SOLUTION" not in b.source
            assert '"""' in b.source   # signatures and docstrings stay
        # later cells can only reach the student's definitions: no cell imports the solution's
        code = "\n".join(c.source for c in blank.cells if c.cell_type == "code")
        for module in ("prompt", "adapter", "lora", "counting"):
            assert f"from helpers.methods.{module} import" not in code


def test_solution_notebooks_grade_full_marks_and_write_nothing_in_the_repository():
    before = _snapshot()
    for name in GRADED:
        graded = grade_notebook(REPO / "notebooks" / f"{name}.ipynb")
        assert not _failed(graded), graded["items"]
        assert sum(row["points"] for row in graded["items"]) == {"02_prompt_tuning": 25, "03_adapter": 25, "05_lora": 30}[name]
    assert _snapshot() == before


def test_untouched_handout_grades_zero_with_each_item_not_implemented(handouts, capsys):
    assert main([str(handouts / "blank")], as_json=True) == 0
    result = json.loads(capsys.readouterr().out)
    rows = [row for graded in result["notebooks"] for row in graded["items"]]
    assert len(rows) == len(ITEMS) and result["earned"] == 0 and result["possible"] == 80
    assert {row["why"] for row in rows} == {"not implemented"}
    assert set(result["by_hand"]) == {"01_full_finetuning", "04_adapter_adapterhub", "report"}


def test_handout_completed_with_the_solution_grades_full_marks(handouts, capsys):
    assert main([str(handouts / "solved" / "05_lora.ipynb")]) == 0
    assert "total (graded automatically): 30/30 points (100.0%)" in capsys.readouterr().out


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_each_planted_bug_loses_exactly_its_items(handouts, tmp_path, bug):
    name, old, new, lost = BUGS[bug]
    graded = grade_notebook(_edit(handouts / "solved" / f"{name}.ipynb", old, new, tmp_path / f"{name}.ipynb"))
    assert _failed(graded) == lost, graded["items"]


def test_an_endless_loop_stops_at_the_time_limit_with_one_line(handouts, tmp_path):
    path = _edit(handouts / "solved" / "05_lora.ipynb", "import math\n", "import math\nwhile True:\n    pass\n",
                 tmp_path / "05_lora.ipynb")
    graded = grade_notebook(path, time_limit=20)
    assert {row["why"] for row in graded["items"]} == {"stopped at the time limit (20 s): the notebook's code did not finish"}
    assert graded["seconds"] < 40


def test_a_syntax_error_costs_the_items_it_breaks_and_names_the_error(handouts, tmp_path):
    path = _edit(handouts / "solved" / "05_lora.ipynb", "def merge_lora(model: nn.Module) -> nn.Module:",
                 "def merge_lora(model: nn.Module) -> nn.Module", tmp_path / "05_lora.ipynb")
    graded = grade_notebook(path)
    assert _failed(graded) == {i.key for i in ITEMS if i.notebook == "05_lora"} - {"lora.formula"}   # its own cell
    assert all("SyntaxError" in row["why"] for row in graded["items"] if not row["passed"])


def test_grade_refuses_a_missing_file_and_a_non_notebook(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        grade_notebook(tmp_path / "05_lora.ipynb")
    (tmp_path / "05_lora.ipynb").write_text("not json")
    with pytest.raises(UserError, match="not a Jupyter notebook"):
        grade_notebook(tmp_path / "05_lora.ipynb")
