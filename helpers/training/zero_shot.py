"""Zero-shot accuracy of the untrained backbone: label scoring on validation and test with each
of the profile's templates (the plain review, and the task prefix the backbone met in its
pretraining: `sst2 sentence:` for t5-small). Shows how much sentiment it knew before any method."""
from __future__ import annotations

import time

from helpers.data.tokens import prepare_data
from helpers.models.backbones import label_token_ids, load_backbone
from helpers.study.results import device_description, versions, write_results
from helpers.study.settings import PROFILES, settings_for
from helpers.study.sources import check_sources
from helpers.training.evaluation import label_accuracy
from helpers.training.runtime import make_accelerator, precision_name

RESULTS_NAME = "zero_shot"


def zero_shot(profile: str, overrides: dict | None = None, log=print) -> dict:
    """Evaluate, write runs/<profile>/results/zero_shot.json, return its record."""
    check_sources(profile)
    chosen = settings_for("full_ft", profile, overrides)
    model = chosen.model
    accelerator = make_accelerator(profile, chosen.precision)
    log = log if accelerator.is_main_process else (lambda *_: None)   # one process speaks for all
    with accelerator.main_process_first():   # torchrun: one process builds the caches, the others read them
        backbone, tokenizer = load_backbone(profile, model)
    backbone = backbone.to(accelerator.device).eval()
    label_ids = label_token_ids(tokenizer)
    templates = {}
    for name, template in PROFILES[profile].zero_shot.items():
        # The data settings of the runs (validation split, lengths, limits), only the template differs.
        settings = settings_for("full_ft", profile, {**(overrides or {}), "template": template})
        with accelerator.main_process_first():
            data = prepare_data(settings, tokenizer)
        scores = {split: label_accuracy(backbone, data[split], tokenizer, label_ids, settings.eval_batch_size,
                                        accelerator, f"zero-shot {name} ({split})") for split in ("val", "test")}
        templates[name] = {"template": template, "val_accuracy": scores["val"], "test_accuracy": scores["test"]}
        log(f"zero-shot, template {template!r}: val_accuracy={scores['val']:.4f} test_accuracy={scores['test']:.4f}")
    record = {"run_id": RESULTS_NAME, "profile": profile, "model": model,
              "data": PROFILES[profile].data, "templates": templates, "device": device_description(),
              "precision": precision_name(accelerator),
              "versions": versions(), "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    if accelerator.is_main_process:
        log(f"results: {write_results(profile, RESULTS_NAME, record, model)}")
    return record
