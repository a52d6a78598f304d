"""`python -m helpers report --profile P`: report/<P>/report.pdf and report.md, from the tables
and figures of the results files (helpers.report.tables, helpers.report.plots)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers.report.plots import make_figures
from helpers.report.tables import (ACCURACY_HEAD, ARITHMETIC_HEAD, BEYOND_HEAD, EVALUATION_HEAD, PARAMETER_HEAD,
                                   ZERO_SHOT_HEAD, accuracy_rows, arithmetic_findings, arithmetic_rows, banner,
                                   beyond_rows, evaluation_rows, load_arithmetic, load_results, load_zero_shot,
                                   metadata, non_default_notes, parameter_rows, zero_shot_rows)
from helpers.study.paths import report_dir
from helpers.study.runs import ALL_RUNS, EXTENSIONS, RUNS


@dataclass
class Table:
    title: str
    head: list[str]
    rows: list[list[str]]
    widths: tuple[int, ...]   # PDF column widths (mm, landscape A4)
    note: str = ""


def report_tables(records, zero, arithmetic=None) -> list[Table]:
    """Every table of the report, in order; the markdown and the PDF both print this list."""
    return [
        Table(f"Table 1. Max validation accuracy after {_epochs_text(records)} epochs, and test accuracy of the "
              "best-validation epoch", ACCURACY_HEAD, accuracy_rows(records), (62, 26, 16, 26, 28, 26, 22, 22),
              "Reference columns (not measured here): the original course study's max validation accuracy after 10 "
              "epochs, and two independent public submissions A and B. The course validated on its test set; here "
              "validation reviews are held out of train and the test set is used once, with the best epoch's weights."
              + "".join(" " + note for note in non_default_notes(records))),
        Table("Table 2. Parameter counts: measured beside the formula's prediction", PARAMETER_HEAD,
              parameter_rows(records), (62, 30, 30, 30, 90, 14)),
        Table("Table 3. Evaluation methods and cost", EVALUATION_HEAD, evaluation_rows(records),
              (62, 38, 38, 30, 30, 30),
              "Label scoring compares the two label words at the first decoder step (never invalid); generate + "
              "string match is the course's metric, with the share of outputs that were neither label word."),
        Table("Table 4. Beyond the assignment (notebook 06): other methods, measured the same way", BEYOND_HEAD,
              beyond_rows(records), (50, 24, 16, 22, 26, 24, 26, 26, 26, 14),
              "Not part of the assignment's ten runs. Prefix tuning through PEFT: on T5 its prefix reaches only the "
              "decoder's self-attention, and with an even number of layers half of its key/value pairs are never read "
              "(helpers/methods/prefix.py); its generate step disagrees with its own forward pass, which shows in the "
              "generate column." + "".join(" " + note for note in non_default_notes(records, EXTENSIONS))),
        Table("Table 5. Zero-shot: the backbone before any training", ZERO_SHOT_HEAD, zero_shot_rows(zero, records),
              (70, 80, 40, 40),
              "The task-prefix template is the one the backbone met in pretraining (t5-small: SST-2 as "
              "'sst2 sentence:'); epoch 0 of the runs uses the plain review."),
        Table("Table 6. Composing modules with arithmetic (notebook 07)", ARITHMETIC_HEAD,
              arithmetic_rows(arithmetic), (62, 96, 26, 26, 60),
              " ".join(arithmetic_findings(arithmetic)) or "Notebook 07 has not run."),
    ]


def _epochs_text(records) -> str:
    epochs = sorted({r["epochs"] for r in records.values()})
    return "/".join(map(str, epochs)) if epochs else "N"


def _markdown_table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def model_name(records, profile) -> str:
    """The model the runs were trained on (from their results files), for the titles."""
    from helpers.study.settings import PROFILES

    names = sorted({r["model"] for r in records.values() if isinstance(r.get("model"), str)})
    return ", ".join(names) or PROFILES[profile].model


def write_markdown(path: Path, profile, tables, records, warnings, figures) -> None:
    parts = [f"# PEFT on T5 — results ({profile} profile, model {model_name(records, profile)})", ""]
    if banner(profile):
        parts += [f"> **{banner(profile)}**", ""]
    for table in tables:
        parts += [f"## {table.title}", "", _markdown_table(table.head, table.rows), ""]
        parts += [table.note, ""] if table.note else []
    for name, figure in figures.items():
        parts += [f"![{name}]({figure.name})", ""]
    parts += ["## Run metadata", ""] + [f"- **{k}**: {v}" for k, v in metadata(records, profile)] + [""]
    if warnings:
        parts += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    path.write_text("\n".join(parts))


def write_pdf(path: Path, profile, tables, records, warnings, figures) -> None:
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
    pdf.cell(0, 9, f"PEFT of T5 — results ({profile} profile, model {model_name(records, profile)})", new_x="LMARGIN", new_y="NEXT")
    if banner(profile):
        pdf.set_fill_color(255, 236, 200)
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(0, 5.5, banner(profile), fill=True, new_x="LMARGIN", new_y="NEXT")
    heading = FontFace(emphasis="BOLD", fill_color=(225, 232, 240))
    for table in tables:
        _pdf_table(pdf, table, heading)
    for name, figure in figures.items():
        pdf.add_page()
        pdf.image(str(figure), w=250)
    pdf.add_page()
    _pdf_list(pdf, "Run metadata", [f"{key}: {value}" for key, value in metadata(records, profile)])
    if warnings:
        pdf.ln(3)
        _pdf_list(pdf, "Warnings", [f"• {warning}" for warning in warnings])
    pdf.output(str(path))


def _pdf_table(pdf, table: Table, heading) -> None:
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 11)
    pdf.multi_cell(0, 6, table.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    with pdf.table(col_widths=table.widths, headings_style=heading, line_height=5, text_align="CENTER") as grid:
        for row in [table.head] + table.rows:
            cells = grid.row()
            for value in row:
                cells.cell(value)
    if table.note:
        pdf.set_font("DejaVu", "", 7.5)
        pdf.multi_cell(0, 4, table.note, new_x="LMARGIN", new_y="NEXT")


def _pdf_list(pdf, title: str, lines: list[str]) -> None:
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")


def build_report(profile: str, log=print, model: str | None = None) -> Path:
    from helpers.study.settings import PROFILES
    from helpers import UserError

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    records, warnings = load_results(profile, model)
    zero, zero_warnings = load_zero_shot(profile, model)
    arithmetic, arithmetic_warnings = load_arithmetic(profile, model)
    warnings += zero_warnings + arithmetic_warnings
    folder = report_dir(profile, model)
    folder.mkdir(parents=True, exist_ok=True)
    figures = make_figures(records, folder)
    tables = report_tables(records, zero, arithmetic)
    write_markdown(folder / "report.md", profile, tables, records, warnings, figures)
    write_pdf(folder / "report.pdf", profile, tables, records, warnings, figures)
    for warning in warnings:
        log(f"warning: {warning}")
    ten = sum(run.run_id in records for run in RUNS)
    log(f"report: {folder / 'report.pdf'} ({ten} of {len(RUNS)} runs, {len(records) - ten} of "
        f"{len(ALL_RUNS) - len(RUNS)} extensions) and {folder / 'report.md'}")
    return folder / "report.pdf"
