"""`python -m helpers report --profile P`: report/<P>/report.pdf and report.md, built only from
runs/<P>/results/*.json. Every number comes from a results file; the original study's numbers
come from helpers.runs and are labelled as references. A missing or malformed run shows as "—"
with a warning, and the report still builds."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .paths import report_dir
from .results import results_path
from .runs import RUNS, RunSpec

DASH = "—"
REQUIRED = {"run_id": str, "label": str, "profile": str, "epochs": int, "val_accuracy": list,
            "max_val_accuracy": float, "best_epoch": int, "test_accuracy": float, "total_params": int,
            "trainable_params": int, "added_params": int}


# ------------------------------------------------------------------------------ reading

def _problem(record, run: RunSpec, profile: str) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kind in REQUIRED.items():
        value = record.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else isinstance(value, kind)
        if not ok:
            return f"key {key!r} missing or not a {kind.__name__}"
    if record["run_id"] != run.run_id or record["profile"] != profile:
        return f"belongs to {record['run_id']} / profile {record['profile']}"
    if not record["val_accuracy"] or not all(isinstance(a, (int, float)) for a in record["val_accuracy"]):
        return "val_accuracy is not a list of numbers"
    return None


def load_results(profile: str) -> tuple[dict[str, dict], list[str]]:
    records, warnings = {}, []
    for run in RUNS:
        path = results_path(profile, run.run_id)
        if not path.is_file():
            warnings.append(f"{run.run_id}: no results file ({path.name}); run `python -m helpers run {run.run_id} "
                            f"--profile {profile}` or notebook {run.notebook}")
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            warnings.append(f"{run.run_id}: {path.name} is not valid JSON ({error}); re-run it")
            continue
        problem = _problem(record, run, profile)
        if problem:
            warnings.append(f"{run.run_id}: {path.name} is malformed ({problem}); re-run it")
            continue
        records[run.run_id] = record
    return records, warnings


# ------------------------------------------------------------------------------ formatting

def _percent(record, key) -> str:
    value = 100 * record[key]
    std = record.get(f"{key}_std") or 0.0
    return f"{value:.1f} ± {100 * std:.1f}" if len(record.get("seeds", [0])) > 1 else f"{value:.1f}"


def _best_epochs(record) -> str:
    """The best epoch, or each seed's when several ran."""
    per_seed = record.get("per_seed")
    if isinstance(per_seed, list) and len(per_seed) > 1:
        return ", ".join(str(s.get("best_epoch", DASH)) for s in per_seed)
    return str(record["best_epoch"])


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else DASH


def _per_run(records, width: int, cells) -> list[list[str]]:
    """A row per run in study order: its label, then `cells(record)`, or `width` dashes if it has no record."""
    rows = []
    for run in RUNS:
        record = records.get(run.run_id)
        rows.append([run.label] + (cells(record) if record else [DASH] * width))
    return rows


def accuracy_rows(records) -> list[list[str]]:
    def cells(r):
        return [_percent(r, "max_val_accuracy"), _best_epochs(r), _percent(r, "test_accuracy"),
                _count(r["trainable_params"])]

    references = [[f"{value:.1f}" for value in run.reference] for run in RUNS]   # study, submission A, B
    return [row + reference for row, reference in zip(_per_run(records, 4, cells), references)]


def parameter_rows(records) -> list[list[str]]:
    def cells(r):
        predicted = r.get("formula_added")
        match = "yes" if predicted == r["added_params"] else ("NO" if isinstance(predicted, int) else DASH)
        return [_count(r["total_params"]), _count(r["added_params"]), _count(predicted), r.get("formula", DASH), match]

    return _per_run(records, 5, cells)


def evaluation_rows(records) -> list[list[str]]:
    def cells(r):
        generate, invalid = r.get("test_generate_accuracy"), r.get("test_invalid_rate")
        return [f"{100 * r['test_accuracy']:.1f}",
                f"{100 * generate:.1f}" if isinstance(generate, (int, float)) else DASH,
                f"{100 * invalid:.2f}" if isinstance(invalid, (int, float)) else DASH,
                f"{r['wall_seconds']:,.0f}" if isinstance(r.get("wall_seconds"), (int, float)) else DASH,
                _count(r.get("weights_bytes")) if r.get("weights_bytes") else DASH]

    return _per_run(records, 5, cells)


def metadata(records, profile: str) -> list[tuple[str, str]]:
    def values(key):
        found = sorted({json.dumps(r.get(key)) if not isinstance(r.get(key), str) else r.get(key) for r in records.values()
                        if r.get(key) is not None})
        return ", ".join(found) if found else DASH

    first = next(iter(records.values()), {})
    seeds = sorted({len(r.get("seeds", [r.get("seed")])) for r in records.values()})
    return [("profile", profile), ("model", values("model")), ("data", values("data")),
            ("epochs", values("epochs")), ("seeds per run", ", ".join(map(str, seeds)) or DASH),
            ("device", values("device")), ("processes per run", values("processes")),
            ("git commit", values("git_commit")),
            ("runs finished", f"{min((r.get('finished_at', '') for r in records.values()), default=DASH)} .. "
                              f"{max((r.get('finished_at', '') for r in records.values()), default=DASH)}"),
            ("report built", time.strftime("%Y-%m-%d %H:%M:%S")),
            ("package versions", ", ".join(f"{k} {v}" for k, v in first.get("versions", {}).items()) or DASH)]


def banner(profile: str) -> str | None:
    if profile == "full":
        return None
    return (f"Profile '{profile}': these numbers come from the synthetic offline demo (a tiny T5 on a generated "
            "corpus). They show that the pipeline works; they are NOT comparable to the study's IMDB numbers.")


# ------------------------------------------------------------------------------ figures

def make_figures(records, folder: Path) -> dict[str, Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import accuracy_per_epoch, accuracy_vs_parameters, weight_sizes

    ordered = [records[r.run_id] for r in RUNS if r.run_id in records]
    figures = {}
    if not ordered:
        return figures
    for name, draw, size in (("accuracy_per_epoch", lambda ax: accuracy_per_epoch(ax, ordered), (8, 4.2)),
                             ("accuracy_vs_parameters", lambda ax: accuracy_vs_parameters(ax, ordered), (8, 4.2))):
        fig, ax = plt.subplots(figsize=size)
        draw(ax)
        fig.tight_layout()
        figures[name] = folder / f"{name}.png"
        fig.savefig(figures[name], dpi=160)
        plt.close(fig)
    full = records.get("full_ft")
    sizes = [(r["label"], r["weights_bytes"]) for r in ordered if r.get("weights_bytes")]
    if full and sizes:
        # The full model's checkpoint would hold every parameter in fp32: 4 bytes each.
        rows = [(f"{full['label']}: all {full['total_params']:,} parameters x 4 bytes", 4 * full["total_params"])] + sizes
        fig, ax = plt.subplots(figsize=(8, 4.2))
        weight_sizes(ax, rows)
        fig.tight_layout()
        figures["weight_sizes"] = folder / "weight_sizes.png"
        fig.savefig(figures["weight_sizes"], dpi=160)
        plt.close(fig)
    return figures


# ------------------------------------------------------------------------------ writing

ACCURACY_HEAD = ["Run", "Max val. acc. (%)", "Best epoch", "Test acc. (%)", "Trainable params",
                 "Reference: study (%)", "Reference: A (%)", "Reference: B (%)"]
PARAMETER_HEAD = ["Run", "Total", "Added (measured)", "Added (formula)", "Formula for added", "Match"]
EVALUATION_HEAD = ["Run", "Test acc., label scoring (%)", "Test acc., generate (%)", "Invalid outputs (%)",
                   "Wall time (s)", "Weights (bytes)"]


def _epochs_text(records) -> str:
    epochs = sorted({r["epochs"] for r in records.values()})
    return "/".join(map(str, epochs)) if epochs else "N"


def _markdown_table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(path: Path, profile, records, warnings, figures) -> None:
    parts = [f"# PEFT on T5 — results ({profile} profile)", ""]
    if banner(profile):
        parts += [f"> **{banner(profile)}**", ""]
    parts += [f"## Table 1. Accuracy: max validation accuracy after {_epochs_text(records)} epochs, test accuracy of "
              "the best-validation epoch", "",
              _markdown_table(ACCURACY_HEAD, accuracy_rows(records)), "",
              "Reference columns: the original course study's max validation accuracy after 10 epochs and two public "
              "submissions (A, B). That study validated on the test set; here validation is held out of train.", "",
              "## Table 2. Parameter counts", "", _markdown_table(PARAMETER_HEAD, parameter_rows(records)), "",
              "## Table 3. Evaluation methods and cost", "", _markdown_table(EVALUATION_HEAD, evaluation_rows(records)), ""]
    for name, figure in figures.items():
        parts += [f"![{name}]({figure.name})", ""]
    parts += ["## Run metadata", ""] + [f"- **{k}**: {v}" for k, v in metadata(records, profile)] + [""]
    if warnings:
        parts += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    path.write_text("\n".join(parts))


def write_pdf(path: Path, profile, records, warnings, figures) -> None:
    from fpdf import FPDF
    from fpdf.fonts import FontFace
    import matplotlib

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.cell(0, 9, f"Parameter-efficient fine-tuning of T5 — results ({profile} profile)", new_x="LMARGIN", new_y="NEXT")
    if banner(profile):
        pdf.set_fill_color(255, 236, 200)
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(0, 5.5, banner(profile), fill=True, new_x="LMARGIN", new_y="NEXT")
    heading = FontFace(emphasis="BOLD", fill_color=(225, 232, 240))

    def table(title, head, rows, widths, note=None):
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8)
        with pdf.table(col_widths=widths, headings_style=heading, line_height=5, text_align="CENTER") as grid:
            for row in [head] + rows:
                cells = grid.row()
                for value in row:
                    cells.cell(value)
        if note:
            pdf.set_font("DejaVu", "", 7.5)
            pdf.multi_cell(0, 4, note, new_x="LMARGIN", new_y="NEXT")

    table(f"Table 1. Max validation accuracy after {_epochs_text(records)} epochs, and test accuracy of the "
          "best-validation epoch", ACCURACY_HEAD, accuracy_rows(records), (62, 26, 16, 26, 28, 26, 22, 22),
          "Reference columns (not measured here): the original course study's max validation accuracy after 10 "
          "epochs, and two independent public submissions A and B. The course validated on its test set; here "
          "validation reviews are held out of train and the test set is used once, with the best epoch's weights.")
    table("Table 2. Parameter counts: measured beside the formula's prediction", PARAMETER_HEAD,
          parameter_rows(records), (62, 30, 30, 30, 90, 14))
    table("Table 3. Evaluation methods and cost", EVALUATION_HEAD, evaluation_rows(records), (62, 38, 38, 30, 30, 30),
          "Label scoring compares the two label words at the first decoder step (never invalid); generate + string "
          "match is the course's metric, with the share of outputs that were neither label word.")
    for name, figure in figures.items():
        pdf.add_page()
        pdf.image(str(figure), w=250)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, "Run metadata", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    for key, value in metadata(records, profile):
        pdf.multi_cell(0, 5, f"{key}: {value}", new_x="LMARGIN", new_y="NEXT")
    if warnings:
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 7, "Warnings", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 8.5)
        for warning in warnings:
            pdf.multi_cell(0, 5, f"• {warning}", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def build_report(profile: str, log=print) -> Path:
    from .config import PROFILES
    from .errors import UserError

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    records, warnings = load_results(profile)
    folder = report_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    figures = make_figures(records, folder)
    write_markdown(folder / "report.md", profile, records, warnings, figures)
    write_pdf(folder / "report.pdf", profile, records, warnings, figures)
    for warning in warnings:
        log(f"warning: {warning}")
    log(f"report: {folder / 'report.pdf'} ({len(records)} of {len(RUNS)} runs) and {folder / 'report.md'}")
    return folder / "report.pdf"
