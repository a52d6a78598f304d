"""The grader's fresh process: `python -m helpers.teaching.sandbox NOTEBOOK RESULTS`. Runs only the
notebook's tagged definition cells (never its training cells), then each item's check, and
appends one JSON line per finished item to RESULTS, so that what finished before a time limit
still counts. The parent (grade.py) starts it in a temporary folder with a time limit."""
from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback

import nbformat
import torch

from helpers.teaching.checks import Failed
from helpers.teaching.handout import piece_tag
from helpers.teaching.items import ITEMS


def one_line(error: BaseException) -> str:
    if isinstance(error, NotImplementedError):
        return "not implemented"
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    where = traceback.extract_tb(error.__traceback__)
    cell = next((f" ({f.filename}, line {f.lineno})" for f in reversed(where) if f.filename.startswith("cell ")), "")
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}{cell}"[:200]


def run_cells(path: str) -> tuple[dict, dict]:
    """Execute the tagged cells in order, as a kernel would: (namespace, {cell label: error})."""
    namespace = {"__name__": "__student__", "show_source": lambda *objects: None}   # the solution's display call
    errors = {}
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and piece_tag(c)]
    for number, cell in enumerate(cells, 1):
        label = f"cell {number} ({piece_tag(cell)})"
        try:
            with contextlib.redirect_stdout(io.StringIO()):   # a notebook's prints are not evidence
                exec(compile(cell.source, f"cell {number}", "exec"), namespace)
        except BaseException as error:   # SystemExit, KeyboardInterrupt in student code included
            errors[label] = one_line(error)
    return namespace, errors


def grade_item(item, namespace, errors) -> tuple[bool, str]:
    missing = [name for name in item.needs if name not in namespace]
    if missing:
        broken = "; ".join(f"{label}: {why}" for label, why in errors.items())
        return False, broken or f"no definition of {missing[0]} (keep the tagged cells)"
    torch.manual_seed(0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            item.check(namespace)
    except Failed as failure:
        return False, str(failure)
    except Exception as error:
        return False, one_line(error)
    return True, ""


def main(notebook: str, results: str, names: list[str]) -> int:
    torch.set_num_threads(1)   # small models: threads cost more than they give, and CI shares cores
    namespace, errors = run_cells(notebook)
    with open(results, "a") as out:
        for item in ITEMS:
            if item.notebook in names:
                passed, why = grade_item(item, namespace, errors)
                out.write(json.dumps({"item": item.key, "passed": passed, "why": why}) + "\n")
                out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
