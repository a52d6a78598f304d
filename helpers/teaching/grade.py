"""`python -m helpers grade PATH.ipynb ... [--json]`: grade a student's from-scratch pieces.

Each notebook is copied into a fresh temporary folder and graded there by a fresh process
(sandbox.py) under a time limit: only its tagged definition cells run, then the checks of
items.py on small random T5s. Nothing is written outside that folder (it is also the process's
PEFT_STUDY_ROOT and working folder), and the notebook's own outputs are never read."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from helpers import UserError
from helpers.teaching.handout import piece_tag
from helpers.teaching.items import BY_HAND, COURSE_WEIGHTS, ITEMS

DEFAULT_TIME_LIMIT = 300   # seconds per notebook; a solution takes 15-25 s on 2 CPU cores (measured)


def notebook_kind(path: Path) -> str | None:
    """Which course notebook this is: by its file name's number (02_...), as handed out."""
    for name in COURSE_WEIGHTS:
        if path.stem[:3] == name[:3]:
            return name
    return None


def read_notebook(path: Path):
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:
        raise UserError(f"{path}: not a Jupyter notebook ({type(error).__name__})") from None


def _run_sandbox(path: Path, kind: str, time_limit: float) -> tuple[dict, str]:
    """({item key: (passed, why)}, the reason the process stopped early, or '')."""
    with tempfile.TemporaryDirectory(prefix="peft-grade-") as folder:
        copy = Path(shutil.copy(path, Path(folder) / "submission.ipynb"))
        results = Path(folder) / "results.jsonl"
        env = {**os.environ, "PEFT_STUDY_ROOT": folder, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
               "TQDM_DISABLE": "1", "HOME": folder, "TMPDIR": folder}
        process = subprocess.Popen([sys.executable, "-m", "helpers.teaching.sandbox", str(copy), str(results), kind],
                                   cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)   # its own group: a time limit stops its children too
        stopped = ""
        try:
            _, stderr = process.communicate(timeout=time_limit)
            if process.returncode:
                stopped = f"the grading process failed: {(stderr.decode(errors='replace').strip().splitlines() or ['?'])[-1]}"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            stopped = f"stopped at the time limit ({time_limit:g} s): the notebook's code did not finish"
        lines = results.read_text().splitlines() if results.exists() else []
    found = {r["item"]: (r["passed"], r["why"]) for r in map(json.loads, lines)}
    return found, stopped


def grade_notebook(path: Path, time_limit: float = DEFAULT_TIME_LIMIT) -> dict:
    """One notebook's rows: item, points, passed, why not; notebooks 01 and 04 are by hand."""
    path = Path(path)
    notebook = read_notebook(path)
    kind = notebook_kind(path)
    if kind is None:
        raise UserError(f"{path}: not one of the course's notebooks (its name starts 01_ .. 05_)")
    if kind in BY_HAND:
        return {"notebook": kind, "path": str(path), "items": [], "by_hand": COURSE_WEIGHTS[kind], "note": BY_HAND[kind]}
    tagged = sum(1 for c in notebook.cells if c.cell_type == "code" and piece_tag(c))
    start = time.perf_counter()
    found, stopped = _run_sandbox(path, kind, time_limit) if tagged else ({}, "no tagged definition cells (keep the cell tags)")
    rows = []
    for item in (i for i in ITEMS if i.notebook == kind):
        passed, why = found.get(item.key, (False, stopped or "not graded"))
        rows.append({"item": item.key, "what": item.what, "points": item.points if passed else 0,
                     "out_of": item.points, "passed": passed, "why": why})
    return {"notebook": kind, "path": str(path), "items": rows, "seconds": round(time.perf_counter() - start, 1)}


def expand(paths: list[str]) -> list[Path]:
    """Notebook files, and the course's notebooks in any folder given (a student's whole
    submission; other notebooks there, a student's scratch pad say, are left alone)."""
    found = []
    for given in map(Path, paths):
        found += sorted(p for p in given.glob("*.ipynb") if notebook_kind(p)) if given.is_dir() else [given]
    if not found:
        raise UserError(f"no notebooks in {', '.join(paths)}")
    return found


def summary(graded: list[dict]) -> dict:
    earned = sum(r["points"] for g in graded for r in g["items"])
    possible = sum(r["out_of"] for g in graded for r in g["items"])
    automatic = {g["notebook"] for g in graded if g["items"]}
    by_hand = {name: COURSE_WEIGHTS[name] for name in BY_HAND if name not in automatic}
    return {"earned": earned, "possible": possible, "percent": round(100 * earned / possible, 1) if possible else 0.0,
            "by_hand": by_hand, "notebooks": graded}


def print_table(result: dict) -> None:
    print(f"{'item':<18} {'points':>7}  {'passed':<6}  why not")
    for graded in result["notebooks"]:
        seconds = f", graded in {graded['seconds']} s" if "seconds" in graded else ""
        print(f"-- {graded['notebook']} ({graded['path']}{seconds})")
        if not graded["items"]:
            print(f"   {graded['note']} ({graded['by_hand']} points)")
        for row in graded["items"]:
            print(f"{row['item']:<18} {row['points']:>3}/{row['out_of']:<3}  {'yes' if row['passed'] else 'NO':<6}  {row['why']}")
    print(f"total (graded automatically): {result['earned']}/{result['possible']} points ({result['percent']:.1f}%)")
    hand = ", ".join(f"{name} {points}" for name, points in result["by_hand"].items())
    print(f"not graded automatically, added by hand out of the course's 100: {hand} points "
          f"(course weights: {', '.join(f'{k} {v}%' for k, v in COURSE_WEIGHTS.items())})")


def main(paths: list[str], as_json: bool = False, time_limit: float = DEFAULT_TIME_LIMIT) -> int:
    result = summary([grade_notebook(path, time_limit) for path in expand(paths)])
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)
    return 0
