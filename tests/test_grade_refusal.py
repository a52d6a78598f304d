"""Without a sandbox the grader refuses in one line that says what to install, before any work;
`--no-sandbox` grades all the same (a separate process, the same limits, no isolation) and every
table says so."""
import pytest

from helpers import UserError
from helpers.teaching import grade
from helpers.teaching.student_repo import write_student_repo
from helpers.teaching.sandbox import INSTALL_HINT


def test_no_sandbox_refused_in_one_line_naming_what_to_install(tmp_path, monkeypatch):
    notebooks = write_student_repo(tmp_path / "solved", solved=True) / "notebooks"
    monkeypatch.setattr(grade, "sandbox_problem", lambda: f"no sandbox: bubblewrap is not installed; {INSTALL_HINT}")
    monkeypatch.setattr(grade, "grade_notebook", lambda *a, **k: pytest.fail("graded without a sandbox"))
    with pytest.raises(UserError, match=r"apt-get install bubblewrap.*--no-sandbox") as refused:
        grade.main([str(notebooks / "05_lora.ipynb")])
    assert "\n" not in str(refused.value)


def test_no_sandbox_grades_and_every_table_says_so(tmp_path, capsys):
    notebooks = write_student_repo(tmp_path / "solved", solved=True) / "notebooks"
    assert grade.main([str(notebooks / "05_lora.ipynb")], sandboxed=False) == 0
    table = capsys.readouterr().out
    assert table.startswith("NOT SANDBOXED (--no-sandbox)") and table.rstrip().splitlines()[-1].startswith("NOT SANDBOXED")
    assert "total (graded automatically): 30/30 points (100.0%)" in table


def test_readme_says_what_each_item_checks_with_its_points():
    """The TA's table of items in the README lists exactly the grader's items and points."""
    import re
    from pathlib import Path

    from helpers.teaching.items import ITEMS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z]+\.[a-z]+)` \| (\d+) \|", readme, flags=re.MULTILINE))
    assert rows == {item.key: str(item.points) for item in ITEMS}
