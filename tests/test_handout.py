"""The student repository (`make handout`): no line of any solution anywhere in it, its helpers
import on their own (not the TA's, which the venv has installed in editable mode), its blank
notebook 05 stops at the first use of a TODO, the solved copy runs 02, 03 and 05 end to end, the
Colab cell gets the published address, and a non-empty folder is refused.

What "a line of a solution" means here: every stripped, non-empty line between `### BEGIN SOLUTION`
and `### END SOLUTION` in the TA's helpers, except the lines that also occur outside every solution
region in another module of the helpers students get (common code such as `return model`, `freeze(model)`,
`with torch.no_grad():`, which the student repository ships in those modules anyway). Lines that
occur outside a region only in the region's own module are NOT exempt: that is how a copy of a
solution beside it (sample_real_tokens once) is caught. Each is searched as a substring of every
file's text (notebooks: every cell's source and outputs)."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import UserError
from helpers.teaching.student_repo import PACKAGE, TA_ONLY, todo_names, write_student_helpers, write_student_repo
from helpers.tools.cli import main as cli_main

REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION\n", re.MULTILINE | re.DOTALL)


def helpers_modules() -> dict[Path, str]:
    return {path: path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}


def solution_lines() -> tuple[dict[str, Path], set[str]]:
    """(each checked line -> its module, the exempt common lines), from the TA's helpers."""
    modules = helpers_modules()
    # Only modules the students get count as "elsewhere" (helpers/teaching stays with the TA).
    outside = {path: {line.strip() for line in REGION.sub("", text).splitlines()} for path, text in modules.items()
               if path.relative_to(PACKAGE).parts[0] not in TA_ONLY}
    checked, exempt = {}, set()
    for path, text in modules.items():
        for region in REGION.findall(text):
            for line in filter(None, (line.strip() for line in region.splitlines())):
                if any(line in lines for other, lines in outside.items() if other != path):
                    exempt.add(line)
                else:
                    checked.setdefault(line, path)
    return checked, exempt


def repository_texts(root: Path) -> dict[Path, str]:
    """Every file of a written repository as text (a notebook: its cells' sources and outputs)."""
    texts = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        if path.suffix == ".ipynb":
            notebook = nbformat.read(path, as_version=4)
            texts[path] = "\n".join(cell.source + json.dumps(cell.get("outputs", [])) for cell in notebook.cells)
        else:
            texts[path] = path.read_text(errors="replace")
    return texts


def leaks(root: Path, checked) -> dict[str, list[str]]:
    texts = repository_texts(root)
    found = {line: [str(path.relative_to(root)) for path, text in texts.items() if line in text] for line in checked}
    return {line: paths for line, paths in found.items() if paths}


# The TA's venv installs helpers in editable mode: a finder that, for any `helpers.X` the written
# repository lacks, falls back to the TA's folder (helpers.teaching would import from it). A student's
# venv has no such finder; this sitecustomize removes it, so each process sees what a student's sees.
WITHOUT_TA_FINDER = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
"""


def student_env(repo: Path) -> dict:
    """The written repository first on the path (ahead of the TA's install), the TA's finder gone."""
    shim = repo.parent / f"{repo.name}-site"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(WITHOUT_TA_FINDER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(shim)])}


def run_python(repo: Path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=repo, env=student_env(repo), capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    """The blank repository written through the command line, and the solved one."""
    root = tmp_path_factory.mktemp("student")
    for name, extra in (("blank", []), ("solved", ["--solved"])):
        assert cli_main(["handout", "--out", str(root / name), *extra]) == 0
    return root


def test_no_line_of_any_solution_appears_in_the_student_repository(repos):
    checked, exempt = solution_lines()
    # The exempt lines are common code: none touches an attribute or names a piece of a solution.
    pieces = {node.name for text in helpers_modules().values() for node in ast.parse(text).body
              if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and "BEGIN SOLUTION" in ast.get_source_segment(text, node)}
    assert checked and not [line for line in exempt if "self." in line or set(re.findall(r"\w+", line)) & pieces], exempt
    assert leaks(repos / "blank", checked) == {}
    # The same search finds every checked line in the solved copy: it would catch a leak.
    assert set(leaks(repos / "solved", checked)) == set(checked)
    assert not (repos / "blank" / "helpers" / TA_ONLY[0]).exists()


def test_the_student_repository_needs_no_grading_tools(repos):
    from importlib.metadata import requires

    imports = re.compile(r"^\s*(from|import)\s+nbgrader\b", re.MULTILINE)
    texts = repository_texts(repos / "blank")
    assert [str(p) for p, text in texts.items() if imports.search(text)] == []
    pinned = [line.split("==")[0] for line in (repos / "blank" / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")]
    assert "nbgrader" not in pinned and pinned
    # nor does a pinned package pull it in (so its JupyterLab extension is never installed for students)
    pulls = [name for name in pinned if any(r.lower().startswith("nbgrader") for r in requires(name) or [])]
    assert pulls == []


def test_its_helpers_import_on_their_own(repos):
    repo = repos / "blank"
    code = ("import importlib.util, pkgutil, helpers\n"
            "print(helpers.__file__)\n"
            "for module in pkgutil.walk_packages(helpers.__path__, 'helpers.'):\n"
            "    if not module.name.endswith('__main__'):   # that one runs the command line\n"
            "        importlib.import_module(module.name)\n"
            "assert importlib.util.find_spec('helpers.teaching') is None\n"
            "from helpers.methods.lora import add_lora\n"
            "try:\n    add_lora(None, rank=1, alpha=1)\nexcept NotImplementedError:\n    print('blank')\n")
    done = run_python(repo, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(repo / "helpers" / "__init__.py"), "blank"]
    help_text = subprocess.run([sys.executable, "-m", "helpers", "--help"], cwd=repo, env=student_env(repo),
                               capture_output=True, text=True, timeout=600)
    assert help_text.returncode == 0, help_text.stderr
    commands = set(re.search(r"\{([\w,-]+)\}", help_text.stdout).group(1).split(","))
    assert "params" in commands and not commands & {"handout", "grade"}, commands


def test_its_parameter_table_runs_with_the_pieces_blank(repos):
    repo = repos / "blank"
    done = subprocess.run([sys.executable, "-m", "helpers", "params", "--json"], cwd=repo, env=student_env(repo),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = {row["run_id"]: row for row in json.loads(done.stdout)}
    blank = {run_id for run_id, row in rows.items() if "unsupported" in row}
    assert {"prompt_scratch_10", "adapter_scratch_8", "lora_scratch_8"} <= blank
    assert rows["lora_peft_8"]["added_params"] > 0 and rows["lora_peft_8"]["formula_added"] is None


def test_the_package_alone_imports_without_solutions(tmp_path):
    out = write_student_helpers(tmp_path / "sandbox")
    done = run_python(out, "from helpers.methods.inject import freeze, wrap_matching\nimport helpers\nprint(helpers.__file__)")
    assert done.returncode == 0 and done.stdout.strip() == str(out / "helpers" / "__init__.py"), done.stderr
    assert leaks(out, solution_lines()[0]) == {}
    with pytest.raises(UserError, match="exists already"):
        write_student_helpers(out)


def test_blank_notebook_05_stops_at_the_first_use_of_a_todo(repos, tmp_path, monkeypatch):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    repo = repos / "blank"
    notebook = nbformat.read(repo / "notebooks" / "05_lora.ipynb", as_version=4)
    # First: which helpers the kernel imports (the student's, not the TA's editable install).
    notebook.cells.insert(0, nbformat.v4.new_code_cell(
        f"import helpers, importlib.util\nassert helpers.__file__ == {str(repo / 'helpers' / '__init__.py')!r}, helpers.__file__\n"
        "assert importlib.util.find_spec('helpers.teaching') is None"))
    nbformat.write(notebook, tmp_path / "05_lora.ipynb")
    monkeypatch.setenv("PYTHONPATH", student_env(repo)["PYTHONPATH"])
    with pytest.raises(PapermillExecutionError) as error:
        papermill.execute_notebook(str(tmp_path / "05_lora.ipynb"), str(tmp_path / "out.ipynb"), cwd=str(repo / "notebooks"),
                                   parameters={"profile": "tiny", "epochs": 1}, kernel_name="python3",
                                   progress_bar=False, log_output=False)
    assert error.value.ename == "NotImplementedError"
    cells = [c for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells if c.cell_type == "code"]
    failed = [i for i, c in enumerate(cells) if any(o.output_type == "error" for o in c.outputs)]
    names = todo_names(notebook)
    first_tagged = next(i for i, c in enumerate(cells) if "handout:" in str(c.metadata.get("tags")))
    first_use = next(i for i, c in enumerate(cells) if i > first_tagged and "handout:" not in str(c.metadata.get("tags"))
                     and any(re.search(rf"\b{name}\(", c.source) for name in names))
    assert failed == [first_use], (failed, first_use, cells[failed[0]].source if failed else None)
    assert all(c.execution_count is not None for c in cells[:first_use])   # everything before it ran


@pytest.mark.slow
def test_solved_repository_runs_notebooks_02_03_05_end_to_end(repos, study_root):
    repo = repos / "solved"
    names = ["02_prompt_tuning", "03_adapter", "05_lora"]
    done = subprocess.run([sys.executable, "-m", "helpers", "notebooks", "--profile", "tiny", "--papermill-args",
                           "-p epochs 1", "--only", *names], cwd=repo, env=student_env(repo), capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for name in names:   # executed from the solved repository (its tagged cells), written under the study root
        executed = nbformat.read(study_root / "runs" / "tiny" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert any("handout:" in str(c.metadata.get("tags")) and "def " in c.source for c in executed.cells)
        assert all(c.execution_count is not None for c in executed.cells if c.cell_type == "code")
    assert not (repo / "runs").exists()


@pytest.mark.slow
def test_the_students_own_tests_pass_on_the_blank_repository(repos):
    repo = repos / "blank"   # no cache provider: pytest would write .pytest_cache into the repository
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=repo,
                          env=student_env(repo), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_repo_url_lands_in_every_colab_cell(tmp_path):
    url = "https://git.example.org/course/peft-t5-course.git"
    out = write_student_repo(tmp_path / "published", repo_url=url)
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert f'REPO_URL = "{url}"' in first.source and 'REPO_URL = "https://github.com/your-account' not in first.source, path.name
    assert f"git clone {url}" in (out / "README.md").read_text()
    with pytest.raises(UserError, match="not a plain git address"):
        write_student_repo(tmp_path / "other", repo_url='x"; import os')


def test_a_non_empty_folder_is_refused_and_left_alone(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert cli_main(["handout", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "not empty" in error and "--out" in error and len(error.splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"] and (tmp_path / "mine.txt").read_text() == "keep me"
