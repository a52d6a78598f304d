"""The report's tables, read only from runs/<P>/results/*.json: every number comes from a results
file; the original study's numbers come from helpers.study.runs and are labelled as references.
A missing or malformed run shows as "—" with a warning, and the report still builds."""
from __future__ import annotations

import json
import time

from helpers.study.results import results_path
from helpers.study.runs import ALL_RUNS, EXTENSIONS, RUNS, RunSpec

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
    for run in ALL_RUNS:
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


def load_zero_shot(profile: str, model: str | None = None) -> tuple[dict | None, list[str]]:
    """runs/<profile>/results/zero_shot.json (notebook 06, `python -m helpers zero-shot`), if written."""
    path = results_path(profile, "zero_shot", model)
    if not path.is_file():
        return None, [f"zero-shot: no results file; run `python -m helpers zero-shot --profile {profile}` or notebook 06"]
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return None, [f"zero-shot: {path.name} is not valid JSON ({error}); re-run it"]
    templates = record.get("templates") if isinstance(record, dict) else None
    numbers = ("val_accuracy", "test_accuracy")
    if not isinstance(templates, dict) or not all(
            isinstance(v, dict) and all(isinstance(v.get(k), (int, float)) for k in numbers) for v in templates.values()):
        return None, [f"zero-shot: {path.name} is malformed (templates with val/test accuracies expected); re-run it"]
    return record, []


def load_arithmetic(profile: str, model: str | None = None) -> tuple[dict | None, list[str]]:
    """runs/<profile>/results/arithmetic.json (notebook 07), if written."""
    path = results_path(profile, "arithmetic", model)
    if not path.is_file():
        return None, ["module arithmetic: no results file; run notebook 07"]
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return None, [f"module arithmetic: {path.name} is not valid JSON ({error}); re-run notebook 07"]
    models = record.get("models") if isinstance(record, dict) else None
    if not isinstance(models, dict) or not all(isinstance(m, dict) and isinstance(m.get("test_accuracy"), (int, float))
                                               for m in models.values()):
        return None, [f"module arithmetic: {path.name} is malformed; re-run notebook 07"]
    return record, []


NON_DEFAULT_MARK = " *"


def _per_run(records, width: int, cells, runs=RUNS) -> list[list[str]]:
    """A row per run in study order: its label (marked if it ran with non-default settings), then
    `cells(record)`, or `width` dashes if it has no record."""
    rows = []
    for run in runs:
        record = records.get(run.run_id)
        mark = NON_DEFAULT_MARK if record and record.get("non_default_settings") else ""
        rows.append([run.label + mark] + (cells(record) if record else [DASH] * width))
    return rows


def non_default_notes(records, runs=RUNS) -> list[str]:
    """'* LoRA_8 (#5): non-default settings: epochs=3, max_length=256' for each marked run of `runs`:
    such a run does not follow the assignment's protocol, and its numbers do not compare with the
    references."""
    from helpers.study.settings import describe_non_default

    return [f"*{run.label}: {describe_non_default(records[run.run_id]['non_default_settings'])}; not comparable with "
            "the assignment's numbers." for run in runs
            if run.run_id in records and records[run.run_id].get("non_default_settings")]


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


def beyond_rows(records) -> list[list[str]]:
    """Notebook 06's runs: accuracy, both test metrics, and the parameter counts beside the formula."""
    def cells(r):
        generate, invalid = r.get("test_generate_accuracy"), r.get("test_invalid_rate")
        predicted = r.get("formula_added")
        return [_percent(r, "max_val_accuracy"), _best_epochs(r), _percent(r, "test_accuracy"),
                f"{100 * generate:.1f}" if isinstance(generate, (int, float)) else DASH,
                f"{100 * invalid:.2f}" if isinstance(invalid, (int, float)) else DASH,
                _count(r["trainable_params"]), _count(r["added_params"]), _count(predicted),
                "yes" if predicted == r["added_params"] else ("NO" if isinstance(predicted, int) else DASH)]

    return _per_run(records, 9, cells, EXTENSIONS)


def zero_shot_rows(zero, records) -> list[list[str]]:
    """The untrained backbone per template, beside epoch 0 (before training) of the ten runs."""
    rows = [[name, entry["template"], f"{100 * entry['val_accuracy']:.1f}", f"{100 * entry['test_accuracy']:.1f}"]
            for name, entry in (zero or {}).get("templates", {}).items()]
    starts = [records[run.run_id]["val_accuracy"][0] for run in RUNS if run.run_id in records]
    if starts:
        low, high = 100 * min(starts), 100 * max(starts)
        rows.append(["epoch 0 of the ten runs", "{text} + each method at initialisation",
                     f"{low:.1f}" if low == high else f"{low:.1f} – {high:.1f}", DASH])
    return rows


def arithmetic_rows(record) -> list[list[str]]:
    def flips(model):
        return "; ".join(f"{100 * rate:.1f} vs {other}" for other, rate in model.get("test_flip_rate", {}).items())

    return [[name, model["operation"], f"{100 * model['val_accuracy']:.1f}", f"{100 * model['test_accuracy']:.1f}",
             flips(model) or DASH] for name, model in (record or {}).get("models", {}).items()]


def arithmetic_findings(record) -> list[str]:
    """What each operation did here, in words, from the results file's numbers only."""
    models = (record or {}).get("models", {})
    test = {name: model["test_accuracy"] for name, model in models.items()}
    found = []
    if {"sum, scratch", "half 1", "half 2", "all reviews"} <= set(test):
        best_half = max(test["half 1"], test["half 2"])
        verdict = ("better than either half" if test["sum, scratch"] > best_half else
                   "no better than the better half alone")
        found.append(f"Addition: the sum of the two halves' modules scored {100 * test['sum, scratch']:.1f}% on test, "
                     f"{verdict} ({100 * test['half 1']:.1f}%, {100 * test['half 2']:.1f}%); one module trained on all "
                     f"reviews scored {100 * test['all reviews']:.1f}%.")
    if {"negated, scratch", "all reviews", "backbone"} <= set(test):
        flipped = models["negated, scratch"]["test_flip_rate"]
        effect = ("inverted the skill (below chance)" if test["negated, scratch"] < 0.5 else
                  "did not invert the skill (still at or above chance)")
        found.append(f"Negation: the negated module scored {100 * test['negated, scratch']:.1f}% on test against "
                     f"{100 * test['all reviews']:.1f}% for the module and {100 * test['backbone']:.1f}% for the backbone: "
                     f"it {effect}, flipping {100 * flipped.get('all reviews', 0):.1f}% of the module's labels and "
                     f"{100 * flipped.get('backbone', 0):.1f}% of the backbone's.")
    if "negated, adapters (default)" in models and "all reviews" in test:
        same = models["negated, adapters (default)"]["test_flip_rate"].get("all reviews")
        if same is not None:
            found.append(f"adapters' average_adapter with its default normalize_weights=True flipped {100 * same:.1f}% of "
                         "the original module's labels: " + ("it returned the original module, not its negation."
                                                            if same == 0 else "it did change the module."))
    for name, value in (record or {}).get("max_logit_differences", {}).items():
        found.append(f"Max |logit difference|, {name}: {value:.1e}.")
    return found


def metadata(records, profile: str) -> list[tuple[str, str]]:
    def values(key):
        found = sorted({json.dumps(r.get(key)) if not isinstance(r.get(key), str) else r.get(key) for r in records.values()
                        if r.get(key) is not None})
        return ", ".join(found) if found else DASH

    first = next(iter(records.values()), {})
    seeds = sorted({len(r.get("seeds", [r.get("seed")])) for r in records.values()})
    return [("profile", profile), ("model", values("model")), ("data", values("data")),
            ("epochs", values("epochs")), ("seeds per run", ", ".join(map(str, seeds)) or DASH),
            ("precision", values("precision")),
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
BEYOND_HEAD = ["Run", "Max val. acc. (%)", "Best epoch", "Test acc. (%)", "Test acc., generate (%)",
               "Invalid outputs (%)", "Trainable", "Added (measured)", "Added (formula)", "Match"]
ZERO_SHOT_HEAD = ["Backbone, no training", "Template", "Val. acc. (%)", "Test acc. (%)"]
ARITHMETIC_HEAD = ["Model", "Operation", "Val. acc. (%)", "Test acc. (%)", "Test labels flipped (%)"]
