"""`python -m helpers report --profile P`: report/<P>/report.pdf and report.md, from the tables
and figures of the results files (helpers.report.tables, helpers.report.plots)."""
from __future__ import annotations

from pathlib import Path

from helpers.report.plots import make_figures
from helpers.report.tables import (ACCURACY_HEAD, EVALUATION_HEAD, PARAMETER_HEAD, accuracy_rows, banner,
                                   evaluation_rows, load_results, metadata, parameter_rows)
from helpers.study.paths import report_dir
from helpers.study.runs import RUNS

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


def write_markdown(path: Path, profile, records, warnings, figures) -> None:
    parts = [f"# PEFT on T5 — results ({profile} profile, model {model_name(records, profile)})", ""]
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
    pdf.cell(0, 9, f"PEFT of T5 — results ({profile} profile, model {model_name(records, profile)})", new_x="LMARGIN", new_y="NEXT")
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


def build_report(profile: str, log=print, model: str | None = None) -> Path:
    from helpers.study.settings import PROFILES
    from helpers import UserError

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    records, warnings = load_results(profile, model)
    folder = report_dir(profile, model)
    folder.mkdir(parents=True, exist_ok=True)
    figures = make_figures(records, folder)
    write_markdown(folder / "report.md", profile, records, warnings, figures)
    write_pdf(folder / "report.pdf", profile, records, warnings, figures)
    for warning in warnings:
        log(f"warning: {warning}")
    log(f"report: {folder / 'report.pdf'} ({len(records)} of {len(RUNS)} runs) and {folder / 'report.md'}")
    return folder / "report.pdf"
