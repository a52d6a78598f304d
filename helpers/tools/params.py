"""`python -m helpers params`: the parameter counts of the ten runs and of notebook 06's seven on
the t5-small architecture (built from its config, random weights, no download), the formula's
prediction beside each (and, for partial fine-tuning, the trainable count's formula too)."""
from __future__ import annotations

import json


def parameter_rows() -> list[dict]:
    from helpers.methods.registry import build_model
    from helpers.study.settings import settings_for
    from helpers.models.backbones import t5_small_architecture
    from helpers.methods.counting import count_parameters, formula, trainable_formula
    from helpers.study.runs import ALL_RUNS
    from helpers.data.synthetic import build_tokenizer

    tokenizer = build_tokenizer()   # only its special ids matter here (prompt initialisation)
    rows = []
    for run in ALL_RUNS:
        backbone = t5_small_architecture()
        base = count_parameters(backbone).total
        model = build_model(run, backbone, tokenizer, settings_for(run.run_id, "full"), seed=0)
        counts = count_parameters(model)
        predicted, words = formula(run, model.config)
        trainable = trainable_formula(run, model.config)
        matches = counts.total - base == predicted and (trainable is None or trainable[0] == counts.trainable)
        rows.append({"run_id": run.run_id, "label": run.label, "total_params": counts.total,
                     "trainable_params": counts.trainable, "added_params": counts.total - base,
                     "formula_added": predicted, "formula": words, "matches": matches,
                     **({"formula_trainable": trainable[0], "formula_for_trainable": trainable[1]} if trainable else {})})
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'run':<22} {'total':>12} {'trainable':>12} {'added':>10} {'formula':>10}  match  formula for added"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['run_id']:<22} {r['total_params']:>12,} {r['trainable_params']:>12,} {r['added_params']:>10,} "
                     f"{r['formula_added']:>10,}  {'yes' if r['matches'] else 'NO':<5}  {r['formula']}")
        if "formula_trainable" in r:
            lines.append(f"{'':<22} {'':>12} {r['formula_trainable']:>12,}  trainable by formula: "
                         f"{r['formula_for_trainable']}")
    return "\n".join(lines)


def main(as_json: bool = False) -> int:
    rows = parameter_rows()
    print(json.dumps(rows, indent=2) if as_json else format_table(rows))
    return 0 if all(r["matches"] for r in rows) else 1
