"""`python -m helpers grade PATH ... [--json] [--no-sandbox] [--seed N]`: grade a student's
from-scratch pieces, trusting nothing the student's code does.

For each notebook: draw fresh inputs (draw.py), put the notebook's tagged cells, the questions
and the inputs in a new private folder, run answer.py there in the sandbox (sandbox.py), and once
that process and all it started are gone, read its answers (JSON and safetensors) and decide
every item here against references computed here (items.py). The grader never imports the
submission, never reads what the notebook printed or saved, and writes the grade itself."""
from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from helpers import UserError
from helpers.teaching.checks import Failed
from helpers.teaching.draw import Draw
from helpers.teaching.handout import piece_tag
from helpers.teaching.items import BY_HAND, COURSE_WEIGHTS, ITEMS, questions
from helpers.teaching.sandbox import Limits, run, sandbox_problem

DEFAULT_TIME_LIMIT = 300   # seconds per notebook; the solution takes 4-6 s on 2 CPU cores (measured)
PACKAGE = Path(__file__).resolve().parents[1]
# What of helpers the sandbox shows: the package markers and the surgery the handout's cells import.
SANDBOX_MODULES = ("__init__.py", "methods/__init__.py", "methods/inject.py")
REFUSED = ("peft", "adapters", "opendelta", *(f"helpers.methods.{p.stem}" for p in (PACKAGE / "methods").glob("*.py")
                                             if p.stem not in ("__init__", "inject")), "helpers.teaching")
RULE = "graded cells write the piece themselves (no PEFT, AdapterHub or OpenDelta, no solution module)"
MAX_JSON = 1 << 20


@dataclass
class Answer:
    data: dict = field(default_factory=dict)
    tensors: dict = field(default_factory=dict)
    error: str = ""


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


def _clean(text, limit: int = 320) -> str:
    """A reason that came out of the sandbox: one printable line, short."""
    return "".join(c if c.isprintable() else " " for c in str(text))[:limit]


def read_answer(folder: Path, question: str) -> Answer | None:
    """The sandbox's answer to one question, read as data; None where there is none."""
    from safetensors.torch import load_file

    data_file, tensor_file = folder / f"{question}.json", folder / f"{question}.safetensors"
    if not data_file.is_file() or not tensor_file.is_file():
        return None
    try:
        if data_file.stat().st_size > MAX_JSON:
            raise ValueError("too large")
        data = json.loads(data_file.read_text())
        if not isinstance(data, dict):
            raise ValueError("not an object")
        if "error" in data:
            return Answer(error=_clean(data["error"]))
        return Answer(data, load_file(tensor_file))
    except Exception as error:
        return Answer(error=f"malformed answer ({type(error).__name__})")


def decide(item, answer: Answer | None, draw: Draw, stopped: str) -> tuple[bool, str]:
    if answer is None:
        return False, stopped or "no answer: the grading process ended before answering"
    if answer.error:
        return False, answer.error
    try:
        item.check(answer, draw)
    except Failed as failure:
        return False, _clean(failure)
    except Exception as error:   # an answer of the wrong form is the student's loss, not the grader's crash
        return False, _clean(f"malformed answer ({type(error).__name__}: {error})")
    return True, ""


def _write_task(folder: Path, cells: list[dict], draw: Draw, asked: list[dict]) -> None:
    from safetensors.torch import save_file

    lib = folder / "lib" / "helpers"
    for module in SANDBOX_MODULES:
        (lib / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE / module, lib / module)
    task = {"cells": cells, "configs": draw.configs, "questions": asked, "refused": REFUSED, "rule": RULE}
    (folder / "task.json").write_text(json.dumps(task))
    save_file({k: v.contiguous() for k, v in draw.tensors.items()}, str(folder / "inputs.safetensors"))


def grade_notebook(path: Path, time_limit: float = DEFAULT_TIME_LIMIT, sandboxed: bool = True,
                   seed: int | None = None) -> dict:
    """One notebook's rows: item, points, passed, why not; notebooks 01 and 04 are by hand."""
    path = Path(path)
    notebook = read_notebook(path)
    kind = notebook_kind(path)
    if kind is None:
        raise UserError(f"{path}: not one of the course's notebooks (its name starts 01_ .. 05_)")
    if kind in BY_HAND:
        return {"notebook": kind, "path": str(path), "items": [], "by_hand": COURSE_WEIGHTS[kind], "note": BY_HAND[kind]}
    cells = [{"label": f"cell {n} ({piece_tag(c)})", "source": c.source}
             for n, c in enumerate((c for c in notebook.cells if c.cell_type == "code" and piece_tag(c)), 1)]
    seed = secrets.randbits(31) if seed is None else seed
    start = time.perf_counter()
    draw = Draw.new(seed)
    asked = questions(kind, draw)
    answers, stopped = {}, "no tagged definition cells (keep the cell tags)"
    if cells:
        with tempfile.TemporaryDirectory(prefix="peft-grade-") as folder, tempfile.NamedTemporaryFile() as log:
            _write_task(Path(folder), cells, draw, asked)
            stopped = run(Path(folder), Limits(wall_seconds=time_limit), sandboxed, Path(log.name)).stopped
            answers = {q["id"]: read_answer(Path(folder) / "answers", q["id"]) for q in asked}
            if stopped:   # the process's last words (its own text, so only ever a hint)
                last = Path(log.name).read_bytes()[-4000:].decode(errors="replace").strip().splitlines()
                stopped += f" ({_clean(last[-1], 160)})" if last else ""
    rows = []
    for item in (i for i in ITEMS if i.notebook == kind):
        passed, why = decide(item, answers.get(item.question), draw, stopped)
        rows.append({"item": item.key, "what": item.what, "points": item.points if passed else 0,
                     "out_of": item.points, "passed": passed, "why": why})
    return {"notebook": kind, "path": str(path), "items": rows, "seed": seed,
            "seconds": round(time.perf_counter() - start, 1)}


def expand(paths: list[str]) -> list[Path]:
    """Notebook files, the course's notebooks in a folder given (a student's whole submission;
    other notebooks there, a student's scratch pad say, are left alone), or in each folder of a
    folder of students' folders."""
    found = []
    for given in map(Path, paths):
        if not given.is_dir():
            found.append(given)
            continue
        own = sorted(p for p in given.glob("*.ipynb") if notebook_kind(p))
        found += own or sorted(p for p in given.glob("*/*.ipynb") if notebook_kind(p))
    if not found:
        raise UserError(f"no course notebooks (01_... to 05_...) in {', '.join(paths)}")
    return found


def summary(graded: list[dict], sandboxed: bool, time_limit: float) -> dict:
    earned = sum(r["points"] for g in graded for r in g["items"])
    possible = sum(r["out_of"] for g in graded for r in g["items"])
    automatic = {g["notebook"] for g in graded if g["items"]}
    by_hand = {name: COURSE_WEIGHTS[name] for name in BY_HAND if name not in automatic}
    isolation = (f"sandbox: bubblewrap ({Limits(wall_seconds=time_limit).describe(whole_sandbox=True)})" if sandboxed else
                 "NOT SANDBOXED (--no-sandbox): the students' code ran with your rights, network and files")
    return {"earned": earned, "possible": possible, "percent": round(100 * earned / possible, 1) if possible else 0.0,
            "by_hand": by_hand, "sandboxed": sandboxed, "isolation": isolation, "notebooks": graded}


def print_table(result: dict) -> None:
    print(result["isolation"])
    print(f"{'item':<18} {'points':>7}  {'passed':<6}  why not")
    for graded in result["notebooks"]:
        seconds = f", graded in {graded['seconds']} s, inputs seed {graded['seed']}" if "seconds" in graded else ""
        print(f"-- {graded['notebook']} ({graded['path']}{seconds})")
        if not graded["items"]:
            print(f"   {graded['note']} ({graded['by_hand']} points)")
        for row in graded["items"]:
            print(f"{row['item']:<18} {row['points']:>3}/{row['out_of']:<3}  {'yes' if row['passed'] else 'NO':<6}  {row['why']}")
    print(f"total (graded automatically): {result['earned']}/{result['possible']} points ({result['percent']:.1f}%)")
    hand = ", ".join(f"{name} {points}" for name, points in result["by_hand"].items())
    print(f"not graded automatically, added by hand out of the course's 100: {hand} points "
          f"(course weights: {', '.join(f'{k} {v}%' for k, v in COURSE_WEIGHTS.items())})")
    if not result["sandboxed"]:
        print("NOT SANDBOXED: these grades came from code that could have changed anything you can change")


def main(paths: list[str], as_json: bool = False, time_limit: float = DEFAULT_TIME_LIMIT, sandboxed: bool = True,
         seed: int | None = None) -> int:
    problem = sandbox_problem() if sandboxed else None
    if problem:
        raise UserError(problem)
    notebooks = expand(paths)
    result = summary([grade_notebook(p, time_limit, sandboxed, seed) for p in notebooks], sandboxed, time_limit)
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)
    return 0
