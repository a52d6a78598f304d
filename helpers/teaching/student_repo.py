"""`make handout`: the repository students get. The course notebooks 01-05 with their TODOs (as
handout.py makes them), `helpers` with every `### BEGIN SOLUTION` region cleared by nbgrader's
ClearSolutions and without helpers/teaching (the grader stays with the TA), a README written for
students, a Makefile, pinned requirements without nbgrader, and a few tests of the installation.

Notebooks 06 and 07 are left out: they are not graded, and they rely on pieces the handout clears
(prefix tuning's token draw is init_from_vocabulary's solution), so they would stop half-way.

`solved=True` writes the same repository with the solutions in place (the marker lines removed):
the grader must give it full marks. write_student_helpers writes the package alone (the grader's
sandbox shows even less of helpers: only methods/inject.py, see grade.SANDBOX_MODULES)."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from string import Template

import nbformat

from helpers import UserError
from helpers.notebook.runner import NOTEBOOKS
from helpers.study.paths import REPO_ROOT
from helpers.teaching.handout import NOTEBOOK_DIR, TAG_PREFIX, clear_all_solutions, handout_notebook, piece_tag

PACKAGE = Path(__file__).resolve().parents[1]   # the TA's helpers
TA_ONLY = ("teaching",)                         # subpackages of helpers the students never get
TEMPLATES = REPO_ROOT / "student"                # the files only students get: README template, .gitignore, tests
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
# The Makefile targets students get; handout, grade and bench are the TA's.
STUDENT_TARGETS = ("setup", "test", "lab", "colab", "run-all", "report", "demo", "params", "clean")
STUDENT_MAKEFILE_HEADER = ("# make setup, then make lab (or open the notebooks in Colab); make test checks the installation.\n"
                           "# make demo runs the five notebooks on the tiny profile once your TODOs are written.")
REPO_URL_LINE = re.compile(r'^REPO_URL = "[^"]*"', re.MULTILINE)


def course_notebooks() -> tuple[str, ...]:
    """01-05: the notebooks the course grades (automatically or by hand), in order."""
    from helpers.teaching.items import COURSE_WEIGHTS

    return tuple(name for name in NOTEBOOKS if name in COURSE_WEIGHTS)


def strip_markers(source: str) -> str:
    """The solution kept, the nbgrader marker lines removed (the solved repository)."""
    return "".join(line for line in source.splitlines(keepends=True) if line.strip() not in MARKERS)


def write_student_helpers(out: Path | str, solved: bool = False) -> Path:
    """Write the student's `helpers` package into out/helpers (every solution region cleared, or
    kept without its markers if `solved`; helpers/teaching left out); return out."""
    out = Path(out)
    target = out / "helpers"
    if target.exists():
        raise UserError(f"{target} exists already: remove it or write into another folder")
    sources = {path: path.read_text() for path in sorted(PACKAGE.rglob("*.py"))
               if path.relative_to(PACKAGE).parts[0] not in TA_ONLY}
    marked = [path for path, text in sources.items() if MARKERS[0] in text]
    # One ClearSolutions pass for every marked module: this runs once per grading.
    done = [strip_markers(sources[p]) for p in marked] if solved else clear_all_solutions([sources[p] for p in marked])
    sources.update(zip(marked, done))
    for path, text in sources.items():
        destination = target / path.relative_to(PACKAGE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text)
    return out


def student_notebook(name: str, solved: bool, repo_url: str | None):
    """Notebook `name` as handed out: tagged cells hold their piece (cleared unless `solved`), and
    the Colab cell clones `repo_url` if given."""
    notebook = handout_notebook(NOTEBOOK_DIR / f"{name}.ipynb", solved)
    for cell in notebook.cells:
        if cell.cell_type == "code" and piece_tag(cell) and solved:
            cell.source = strip_markers(cell.source)
    if repo_url is not None:
        colab = next((c for c in notebook.cells if c.cell_type == "code"), None)
        if colab is None or not REPO_URL_LINE.search(colab.source):
            raise UserError(f"notebooks/{name}.ipynb has no `REPO_URL = \"...\"` line in its first code cell; "
                            "restore the Colab cell or leave out --repo-url")
        colab.source = REPO_URL_LINE.sub(lambda _: f"REPO_URL = {json.dumps(repo_url)}", colab.source, count=1)
    return notebook


def check_repo_url(repo_url: str | None) -> None:
    if repo_url is not None and not re.fullmatch(r"[\w.:/@~+-]+", repo_url):
        raise UserError(f"--repo-url {repo_url!r} is not a plain git address (https://... or git@...); "
                        "give the published student repository's clone URL")


def student_makefile() -> str:
    """The TA's Makefile with only STUDENT_TARGETS (and the venv stamp they build on): one setup
    recipe for both. Paragraphs (blank-line separated) whose first rule is another target go."""
    kept = []
    for paragraph in (REPO_ROOT / "Makefile").read_text().split("\n\n"):
        rules = [line.split(":")[0] for line in paragraph.splitlines()
                 if line and not line.startswith(("#", "\t", " ")) and re.match(r"^[\w$().-]+:(?!=)", line)]
        if rules and rules[0] == ".PHONY":
            paragraph = f".PHONY: {' '.join(STUDENT_TARGETS)}"
        elif rules and rules[0] not in STUDENT_TARGETS and rules[0] != "$(STAMP)":
            continue
        kept.append(paragraph)
    # The TA's opening line promises `make demo` on a fresh clone; the student's needs the TODOs first.
    opening = [line for line in kept[0].splitlines() if not line.startswith("# A fresh clone")]
    return "\n\n".join(["\n".join([STUDENT_MAKEFILE_HEADER, *opening]), *kept[1:]])


def student_requirements() -> str:
    """requirements.txt without nbgrader: the student repository grades nothing."""
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("nbgrader"))


def grading_table() -> tuple[str, int]:
    """The README's table of automatic items (from helpers.teaching.items.ITEMS) and their total."""
    from helpers.teaching.items import ITEMS

    rows = ["| notebook | item | points | what it checks |", "|---|---|---:|---|"]
    rows += [f"| {item.notebook} | `{item.key}` | {item.points} | {item.what} |" for item in ITEMS]
    return "\n".join(rows), sum(item.points for item in ITEMS)


def by_hand_table() -> str:
    from helpers.teaching.items import BY_HAND, COURSE_WEIGHTS

    rows = ["| part | weight in the course | how |", "|---|---:|---|"]
    rows += [f"| {part} | {COURSE_WEIGHTS[part]}% | {how} |" for part, how in BY_HAND.items()]
    return "\n".join(rows)


def todo_names(notebook) -> list[str]:
    """The classes and functions of a blank notebook's tagged cells that hold a TODO, in order."""
    names = []
    for cell in notebook.cells:
        if cell.cell_type == "code" and piece_tag(cell):
            names += [node.name for node in ast.parse(cell.source).body
                      if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and "NotImplementedError" in ast.unparse(node)]
    return names


def pieces_table(blank: dict) -> str:
    """What each notebook asks for (notebook name -> its blank notebook): the pieces to write, or
    that it runs as given."""
    from helpers.teaching.items import COURSE_WEIGHTS

    rows = ["| notebook | weight | what you do |", "|---|---:|---|"]
    for name, notebook in blank.items():
        names = todo_names(notebook)
        task = ("write " + ", ".join(f"`{n}`" for n in names)) if names else "runs as given; discuss its results"
        rows.append(f"| `notebooks/{name}.ipynb` | {COURSE_WEIGHTS[name]}% | {task} |")
    return "\n".join(rows)


def student_readme(blank: dict, repo_url: str | None, solved: bool) -> str:
    """README.md from the template: the pieces from the blank notebooks, the items from ITEMS."""
    items, total = grading_table()
    text = Template((TEMPLATES / "README.md").read_text()).substitute(
        pieces=pieces_table(blank), items=items, total=total, by_hand=by_hand_table(),
        clone=repo_url or "<this repository's address>")
    solved_note = ("> **Solved copy, for teaching assistants only**: every TODO is filled with the "
                   "solution. Never publish this one.\n\n")
    return (solved_note if solved else "") + text


def write_student_repo(out: Path | str, solved: bool = False, repo_url: str | None = None) -> Path:
    """Write the whole student repository into `out` (a new or empty folder); return out."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not empty: remove it or give another --out (nothing is overwritten)")
    check_repo_url(repo_url)
    notebooks = course_notebooks()
    written = [student_notebook(name, solved, repo_url) for name in notebooks]   # every check before any write
    blank = dict(zip(notebooks, written if not solved else [student_notebook(n, False, None) for n in notebooks]))
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    for name, notebook in zip(notebooks, written):
        nbformat.write(notebook, out / "notebooks" / f"{name}.ipynb")
    write_student_helpers(out, solved)
    files = {"README.md": student_readme(blank, repo_url, solved), "Makefile": student_makefile(),
             "requirements.txt": student_requirements(), ".gitignore": (TEMPLATES / "gitignore").read_text(),
             "tests/course.json": json.dumps(expected_cells(written, notebooks), indent=1) + "\n"}
    for relative in ("requirements-opendelta.txt", "pyproject.toml", "report/README.md", "weights/README.md"):
        files[relative] = (REPO_ROOT / relative).read_text()
    for template in sorted((TEMPLATES / "tests").glob("*.py")):
        files[f"tests/{template.name}"] = template.read_text()
    for relative, text in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text)
    return out


def expected_cells(notebooks, names) -> dict:
    """notebook -> the tags its cells must keep (tests/course.json; the student's tests check it)."""
    return {name: [tag for cell in notebook.cells for tag in cell.get("metadata", {}).get("tags", [])
                   if tag.startswith(TAG_PREFIX) or tag == "parameters"]
            for name, notebook in zip(names, notebooks)}
