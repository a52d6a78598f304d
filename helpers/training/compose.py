"""Notebook 07's measurements: each composed model (a sum of modules, a negated module, ...)
scored on validation and test, how often its predicted label differs from a reference model's,
and the results file the report reads (runs/<profile>/results/arithmetic.json)."""
from __future__ import annotations

import time

import torch

from helpers.study.results import device_description, versions, write_results
from helpers.training.evaluation import label_predictions

RESULTS_NAME = "arithmetic"


class Composition:
    """Scores models on one experiment's data; keeps every prediction for the flip rates."""

    def __init__(self, experiment):
        self.experiment = experiment
        self.predictions: dict[str, dict[str, torch.Tensor]] = {}
        self.rows: dict[str, dict] = {}

    def score(self, name: str, model, operation: str, compare_with: tuple[str, ...] = ()) -> None:
        """Accuracy of `model` on validation and test; share of test labels flipped against each
        model named in `compare_with` (scored earlier). Printed and kept in `rows[name]`; nothing
        returned, so a notebook cell ending with it shows no stray dictionary."""
        experiment, device = self.experiment, self.experiment.accelerator.device
        model = model.to(device)
        data, accuracy = experiment.data, {}
        self.predictions[name] = {split: label_predictions(model, data[split], experiment.tokenizer,
                                                           experiment.label_ids, experiment.settings.eval_batch_size,
                                                           device, autocast=experiment.accelerator.autocast)
                                for split in ("val", "test")}   # the autocast of every other accuracy
        for split in ("val", "test"):
            accuracy[f"{split}_accuracy"] = (self.predictions[name][split] == data[split].labels).float().mean().item()
        flips = {other: (self.predictions[name]["test"] != self.predictions[other]["test"]).float().mean().item()
                 for other in compare_with}
        self.rows[name] = {"operation": operation, **accuracy, "test_flip_rate": flips}
        flip_text = "".join(f", flips {rate:.1%} of the test labels {other!r} predicts" for other, rate in flips.items())
        print(f"{name:<34} val {accuracy['val_accuracy']:.1%}  test {accuracy['test_accuracy']:.1%}{flip_text}")

    def write(self, differences: dict[str, float]) -> dict:
        """The results file: every scored model, and the measured gaps between implementations."""
        experiment = self.experiment
        record = {"run_id": RESULTS_NAME, "profile": experiment.settings.profile, "model": experiment.settings.model,
                  "models": self.rows,
                  "max_logit_differences": differences, "device": device_description(), "versions": versions(),
                  "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        print(f"results: {write_results(experiment.settings.profile, RESULTS_NAME, record, experiment.settings.model)}")
        return record
