"""The report's tables, read only from runs/<P>/results/*.json: every number comes from a results
file; the original study's numbers come from helpers.study.runs and are labelled as references.
A missing or malformed run shows as "—" with a warning, and the report still builds."""
from __future__ import annotations

import json
import time

from helpers.study.results import results_path
from helpers.study.runs import RUNS, RunSpec

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


def load_results(profile: str, model: str | None = None) -> tuple[dict[str, dict], list[str]]:
    records, warnings = {}, []
    for run in RUNS:
        path = results_path(profile, run.run_id, model)
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


ACCURACY_HEAD = ["Run", "Max val. acc. (%)", "Best epoch", "Test acc. (%)", "Trainable params",
                 "Reference: study (%)", "Reference: A (%)", "Reference: B (%)"]
PARAMETER_HEAD = ["Run", "Total", "Added (measured)", "Added (formula)", "Formula for added", "Match"]
EVALUATION_HEAD = ["Run", "Test acc., label scoring (%)", "Test acc., generate (%)", "Invalid outputs (%)",
                   "Wall time (s)", "Weights (bytes)"]
