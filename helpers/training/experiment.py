"""One run end to end, in the steps a notebook shows: `Experiment` checks the sources and loads
the backbone, tokenizer and data; the caller builds the model on `experiment.backbone()` (the
notebook in plain sight, the CLI through the registry) and hands that very object to
`experiment.fit`; `finish` writes the results file. `run_experiment` is the CLI's composition
of the same steps, so a notebook's numbers are the CLI's."""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict

from transformers import set_seed

from helpers.data.tokens import prepare_data
from helpers.methods.counting import count_parameters, formula
from helpers.methods.registry import build_model, save_weights
from helpers.models.backbones import label_token_ids, load_backbone
from helpers.study.results import device_description, git_commit, versions, write_results
from helpers.study.runs import get_run
from helpers.study.settings import PROFILES, Settings, describe_non_default, non_default_settings
from helpers.study.sources import check_sources
from helpers.training.loop import FitResult, fit
from helpers.training.runtime import make_accelerator, precision_name


class Experiment:
    def __init__(self, run_id: str, settings: Settings, *, resume: bool = False, log=print):
        self.run, self.settings, self.resume = get_run(run_id), settings, resume
        check_sources(settings.profile, settings.model)
        self.accelerator = make_accelerator(settings.profile, settings.precision)
        self.log = log if self.accelerator.is_main_process else (lambda *_: None)   # one process speaks for all
        self.started = time.time()
        # Under torchrun / accelerate launch the main process builds the caches (tiny backbone,
        # tokenised data) first; the others then read them instead of racing to write them.
        with self.accelerator.main_process_first():
            backbone, self.tokenizer = load_backbone(settings.profile, settings.model)
            self.data = prepare_data(settings, self.tokenizer)
        self._unused_backbone = backbone   # the first seed's, already loaded
        self.backbone_parameters = count_parameters(backbone).total
        self.label_ids = label_token_ids(self.tokenizer)
        self.seeds = list(range(settings.seed, settings.seed + settings.seeds))
        self.per_seed: list[dict] = []
        self.weights: tuple = (None, 0)
        self.log(f"{self.run.label} [{run_id}] on profile {settings.profile}, model {settings.model}: {len(self.data['train']):,} train, "
                 f"{len(self.data['val']):,} validation, {len(self.data['test']):,} test reviews; lr {settings.lr:g}, "
                 f"{settings.epochs} epochs, batch {settings.batch_size} x {self.accelerator.num_processes} process(es), "
                 f"{precision_name(self.accelerator)}")
        changed = describe_non_default(non_default_settings(run_id, settings))
        if changed:   # said at the start, and kept in the results file and the report
            self.log(f"{changed}: not the assignment's protocol, so not comparable with its numbers")

    def pretrained(self):
        """A fresh, untouched copy of the pretrained backbone (e.g. the reference for an identity check)."""
        return load_backbone(self.settings.profile, self.settings.model)[0]

    def backbone(self, seed: int | None = None):
        """The backbone to build `seed`'s model on (methods change it in place, so a fresh one per
        seed), with the random state seeded: the method's own initialisation is reproducible."""
        backbone = self._unused_backbone or self.pretrained()
        self._unused_backbone = None
        set_seed(self.seeds[0] if seed is None else seed)
        return backbone

    def fit(self, model, seed: int | None = None) -> FitResult:
        """Train this very `model` (in place) for `seed`; the first seed's weights are saved."""
        seed = self.seeds[len(self.per_seed)] if seed is None else seed
        counts = count_parameters(model)
        predicted, words = formula(self.run, model.config, self.settings.method_size(self.run))
        self.log(counts.line(f"{self.run.run_id} (seed {seed})") +
                 f"; added {counts.total - self.backbone_parameters:,} (formula {_number(predicted)})")
        result = fit(model, self.data, self.settings, tokenizer=self.tokenizer, label_ids=self.label_ids,
                     run_id=self.run.run_id, seed=seed, resume=self.resume, log=self.log, accelerator=self.accelerator)
        if seed == self.seeds[0] and self.accelerator.is_main_process:
            self.weights = save_weights(self.run, self.accelerator.unwrap_model(model), self.settings)
        self.per_seed.append({"seed": seed, **asdict(result), "max_val_accuracy": result.max_val_accuracy})
        self.counts, self.formula = counts, (predicted, words)
        return result

    def fit_remaining_seeds(self, build) -> None:
        """Every seed not trained yet (all of them with seeds > 1 but the first), each model built
        by `build(backbone, seed)` on a fresh backbone: the same method, a new initialisation."""
        for seed in self.seeds[len(self.per_seed):]:
            self.fit(build(self.backbone(seed), seed), seed)

    def finish(self) -> dict:
        """The results file of every seed trained so far (main process writes it); the record."""
        if not self.per_seed:
            raise RuntimeError("finish() before any fit(): train the model first")
        run = self.run
        record = _record(run, self.settings, self.per_seed, self.backbone_parameters, self.counts, *self.formula,
                         self.weights, self.started, self.accelerator.num_processes)
        record["precision"] = precision_name(self.accelerator)   # what `auto` became on this machine
        if self.accelerator.is_main_process:
            path = write_results(self.settings.profile, run.run_id, record, self.settings.model)
            self.log(f"results: {path}" + (f"; weights: {self.weights[0]} ({self.weights[1]:,} bytes)"
                                           if self.weights[0] else ""))
        self.accelerator.wait_for_everyone()
        return record


def run_experiment(run_id: str, settings: Settings, *, resume: bool = False, log=print) -> dict:
    """`python -m helpers run`: every seed's model built through the registry, trained, recorded."""
    experiment = Experiment(run_id, settings, resume=resume, log=log)
    experiment.fit_remaining_seeds(lambda backbone, seed: build_model(experiment.run, backbone, experiment.tokenizer,
                                                                      settings, seed))
    return experiment.finish()


def _number(value) -> str:
    """A count with thousands separators, or "not written" (a cleared formula, the student repository)."""
    return "not written" if value is None else f"{value:,}"


def _mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _record(run, settings, per_seed, base_total, counts, predicted, words, weights, started, processes) -> dict:
    first = per_seed[0]
    epochs_lists = [s["val_accuracy"] for s in per_seed]
    max_mean, max_std = _mean_std([s["max_val_accuracy"] for s in per_seed])
    test_mean, test_std = _mean_std([s["test_accuracy"] for s in per_seed])
    profile = PROFILES[settings.profile]
    return {
        "run_id": run.run_id, "notebook": run.notebook, "label": run.label, "method": run.method,
        "implementation": run.implementation, "profile": settings.profile, "model": settings.model,
        "data": profile.data, "seed": settings.seed, "seeds": [s["seed"] for s in per_seed],
        "epochs": settings.epochs,
        # Per-epoch validation accuracy, epoch 0 first; the mean over seeds when several ran.
        "val_accuracy": [statistics.mean(v) for v in zip(*epochs_lists)],
        "max_val_accuracy": max_mean, "max_val_accuracy_std": max_std,
        "best_epoch": first["best_epoch"], "test_accuracy": test_mean, "test_accuracy_std": test_std,
        "test_generate_accuracy": first["test_generate_accuracy"], "test_invalid_rate": first["test_invalid_rate"],
        "total_params": counts.total, "trainable_params": counts.trainable,
        "added_params": counts.total - base_total, "formula_added": predicted, "formula": words,
        "weights_path": str(weights[0]) if weights[0] else None, "weights_bytes": weights[1],
        "wall_seconds": time.time() - started,
        "train_samples_per_second": statistics.mean(s["train_samples_per_second"] for s in per_seed),
        # Batches are per process: with several, the effective batch and the step count differ.
        "device": device_description(), "processes": processes, "versions": versions(), "git_commit": git_commit(),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), "settings": asdict(settings), "per_seed": per_seed,
        # Settings that differ from the assignment's protocol: the report marks such a run, so that
        # nobody compares it with the reference numbers unawares.
        "non_default_settings": non_default_settings(run.run_id, settings),
    }


def evaluate_weights(run_id: str, settings: Settings, path=None) -> float:
    """Test accuracy (label scoring) of a run's saved weights loaded into a fresh backbone."""
    from helpers.methods.registry import load_weights
    from helpers.training.evaluation import label_accuracy

    run = get_run(run_id)
    check_sources(settings.profile, settings.model)
    accelerator = make_accelerator(settings.profile, settings.precision)   # the device, precision and threads of training
    # Under torchrun the main process builds the caches; the others then read them, not race to write.
    with accelerator.main_process_first():
        backbone, tokenizer = load_backbone(settings.profile, settings.model)
        data = prepare_data(settings, tokenizer)
    model = load_weights(run, backbone, tokenizer, settings, path).to(accelerator.device)
    return label_accuracy(model, data["test"], tokenizer, label_token_ids(tokenizer), settings.eval_batch_size,
                          accelerator, "test (saved weights)")
