"""The handout notebook (student_repo.py writes it into the student repository): the solution notebook
with every from-scratch piece replaced by its signature, docstring and a TODO that raises
NotImplementedError, everything else unchanged.

One source for each piece: its solution lives in helpers/methods/ between nbgrader's
`### BEGIN SOLUTION` / `### END SOLUTION` markers, and nbgrader's own ClearSolutions preprocessor
clears them (no parser of ours). A notebook cell tagged `handout:<module or function>` shows that
piece in the solution; the handout puts the piece's code there instead, so every later cell
builds, trains and saves the model with the student's definitions."""
from __future__ import annotations

import ast
import copy
import importlib
import inspect
import warnings
from pathlib import Path

import nbformat

from helpers.study.paths import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"   # the solution notebooks
TAG_PREFIX = "handout:"
STUB = "# TODO: write this part (the docstring above says what it must do)\nraise NotImplementedError()"
HEADER = ("# Complete every TODO below. The cells after this one build, train and save the model with\n"
          "# YOUR definitions; the course's grader checks them against the libraries.\n")


def piece_tag(cell) -> str | None:
    """The `handout:...` target of a cell, or None for a cell the handout leaves as it is."""
    tags = [t for t in cell.get("metadata", {}).get("tags", []) if t.startswith(TAG_PREFIX)]
    return tags[0][len(TAG_PREFIX):] if tags else None


def piece_source(target: str) -> str:
    """The solution code behind a tag: a whole module of helpers (its docstring kept, its
    `from __future__` line dropped: a cell runs on Python >= 3.10 without it) or one function."""
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError:
        module_name, _, name = target.rpartition(".")
        return inspect.getsource(getattr(importlib.import_module(module_name), name))
    source = Path(module.__file__).read_text()
    future = [node for node in ast.parse(source).body if isinstance(node, ast.ImportFrom) and node.module == "__future__"]
    lines = source.splitlines()
    for node in reversed(future):
        del lines[node.lineno - 1:node.end_lineno]
    return "\n".join(lines).strip() + "\n"


def clear_solutions(source: str) -> str:
    """nbgrader's ClearSolutions on one code cell: each marked region becomes STUB, indented."""
    return clear_all_solutions([source])[0]


def clear_all_solutions(sources: list[str]) -> list[str]:
    """clear_solutions on many sources, one cell each, in one pass (the student repository's
    helpers: a ClearSolutions per module costs a fifth of a second)."""
    with warnings.catch_warnings():   # nbgrader's database models warn at import (SQLAlchemy 2.1)
        warnings.simplefilter("ignore")
        from nbgrader.preprocessors import ClearSolutions

    notebook = nbformat.v4.new_notebook()   # ClearSolutions assumes python without a kernelspec
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    clearer = ClearSolutions(code_stub={"python": STUB}, enforce_metadata=False)
    cleared, _ = clearer.preprocess(notebook, {})
    return [cell.source for cell in cleared.cells]


def student_cell(cell, solved: bool = False):
    """The handout's version of a tagged cell: the piece's code, cleared unless `solved`
    (a handout completed with the solution, which must grade like the solution notebook)."""
    source = piece_source(piece_tag(cell))
    new = copy.deepcopy(cell)
    new.source = HEADER + (source if solved else clear_solutions(source))
    new.outputs, new.execution_count = [], None
    return new


def handout_notebook(path: Path, solved: bool = False):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [student_cell(c, solved) if c.cell_type == "code" and piece_tag(c) else c for c in notebook.cells]
    return notebook
