"""`python -m helpers params [--model NAME]`: the parameter counts of the ten runs and of notebook
06's seven on the t5-small architecture, or on any known T5 shape or saved folder (built from its
config, no download; with --model on the meta device, so t5-11b costs no memory), the formula's
prediction beside each (and, for partial fine-tuning, the trainable count's formula too)."""
from __future__ import annotations

import json


def parameter_rows(model_name: str | None = None) -> list[dict]:
    """One row per run; model_name None: t5-small with random weights, else that shape on the meta device."""
    from helpers.methods.registry import build_model
    from helpers.study.settings import settings_for
    from helpers.models.shapes import architecture
    from helpers.methods.counting import count_parameters, formula, trainable_formula
    from helpers.study.runs import ALL_RUNS
    from helpers import UserError
    from helpers.data.synthetic import build_tokenizer

    tokenizer = build_tokenizer()   # only its special ids matter here (prompt initialisation)
    rows = []
    for run in ALL_RUNS:
        backbone = architecture(model_name or "t5-small", meta=model_name is not None)
        base = count_parameters(backbone).total
        try:
            model = build_model(run, backbone, tokenizer, settings_for(run.run_id, "full"), seed=0)
        except UserError as error:   # a library that cannot handle this shape: said, not counted
            rows.append({"run_id": run.run_id, "label": run.label, "unsupported": str(error), "matches": True})
            continue
        except NotImplementedError:  # the student repository: a method whose pieces are cleared in helpers
            rows.append({"run_id": run.run_id, "label": run.label, "matches": True,
                         "unsupported": "its pieces are blank in this repository's helpers (the notebooks ask you to write them)"})
            continue
        counts = count_parameters(model)
        predicted, words = formula(run, model.config)   # predicted None: a formula cleared likewise
        trainable = trainable_formula(run, model.config)
        matches = (predicted is None or counts.total - base == predicted) and (trainable is None or trainable[0] == counts.trainable)
        rows.append({"run_id": run.run_id, "label": run.label, "total_params": counts.total,
                     "trainable_params": counts.trainable, "added_params": counts.total - base,
                     "formula_added": predicted, "formula": words, "matches": matches,
                     **({"formula_trainable": trainable[0], "formula_for_trainable": trainable[1]} if trainable else {})})
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'run':<22} {'total':>12} {'trainable':>12} {'added':>10} {'formula':>10}  match  formula for added"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "unsupported" in r:
            lines.append(f"{r['run_id']:<22} not available on this shape: {r['unsupported']}")
            continue
        lines.append(f"{r['run_id']:<22} {r['total_params']:>12,} {r['trainable_params']:>12,} {r['added_params']:>10,} "
                     f"{_count(r['formula_added']):>10}  {_match(r):<5}  {r['formula']}")
        if "formula_trainable" in r:
            lines.append(f"{'':<22} {'':>12} {r['formula_trainable']:>12,}  trainable by formula: "
                         f"{r['formula_for_trainable']}")
    return "\n".join(lines)


def _count(value) -> str:
    return "-" if value is None else f"{value:,}"   # None: a formula blank in the student repository


def _match(row: dict) -> str:
    return "-" if row["formula_added"] is None else ("yes" if row["matches"] else "NO")


def backbone_row(model: str) -> dict:
    """The bare backbone's count beside the formula counted from its config."""
    from helpers.methods.counting import count_parameters
    from helpers.models.shapes import architecture, backbone_formula

    backbone = architecture(model, meta=True)
    predicted, words = backbone_formula(backbone.config)
    c = backbone.config
    return {"model": model, "total_params": count_parameters(backbone).total, "formula_total": predicted,
            "formula": words, "matches": count_parameters(backbone).total == predicted,
            "shape": {k: getattr(c, k) for k in ("d_model", "d_kv", "num_heads", "d_ff", "num_layers",
                                                 "num_decoder_layers", "vocab_size", "feed_forward_proj",
                                                 "tie_word_embeddings")}}


def format_backbone(row: dict) -> str:
    shape = ", ".join(f"{k} {v}" for k, v in row["shape"].items())
    return (f"{row['model']}: {shape}\nbackbone {row['total_params']:,} parameters, formula {row['formula_total']:,} "
            f"({'yes' if row['matches'] else 'NO'}): {row['formula']}  (d = d_model, hk = heads x d_kv)")


def main(as_json: bool = False, models: list[str] | None = None) -> int:
    if not models:
        rows = parameter_rows()
        print(json.dumps(rows, indent=2) if as_json else format_table(rows))
        return 0 if all(r["matches"] for r in rows) else 1
    tables = [{"backbone": backbone_row(model), "runs": parameter_rows(model)} for model in models]
    if as_json:
        print(json.dumps(tables, indent=2))
    else:
        print("\n\n".join(format_backbone(t["backbone"]) + "\n" + format_table(t["runs"]) for t in tables))
    return 0 if all(t["backbone"]["matches"] and all(r["matches"] for r in t["runs"]) for t in tables) else 1
