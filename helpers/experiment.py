"""One run end to end: backbone, data, method, training for each seed, weights, results file.
The CLI and the notebooks both call `run_experiment`, so a notebook's numbers are the CLI's."""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict

from transformers import set_seed

from .build import build_model, save_weights
from .config import PROFILES, Settings
from .data import prepare_data
from .model import label_token_ids, load_backbone
from .params import count_parameters, formula
from .preflight import check_sources
from .results import device_description, git_commit, versions, write_results
from .runs import get_run
from .train import fit, make_accelerator


def run_experiment(run_id: str, settings: Settings, *, resume: bool = False, log=print) -> dict:
    run = get_run(run_id)
    check_sources(settings.profile)
    accelerator = make_accelerator()
    if not accelerator.is_main_process:
        log = lambda *_: None   # one process speaks for all   # noqa: E731
    started = time.time()
    # Under torchrun / accelerate launch the main process builds the caches (tiny backbone,
    # tokenised data) first; the others then read them instead of racing to write them.
    with accelerator.main_process_first():
        first_backbone, tokenizer = load_backbone(settings.profile)
        data = prepare_data(settings, tokenizer)
    label_ids = label_token_ids(tokenizer)
    log(f"{run.label} [{run_id}] on profile {settings.profile}: {len(data['train']):,} train, "
        f"{len(data['val']):,} validation, {len(data['test']):,} test reviews; lr {settings.lr:g}, "
        f"{settings.epochs} epochs, batch {settings.batch_size} x {accelerator.num_processes} process(es)")
    per_seed, weights = [], (None, 0)
    for seed in range(settings.seed, settings.seed + settings.seeds):
        # A fresh backbone for every seed (methods modify it in place).
        backbone = first_backbone if seed == settings.seed else load_backbone(settings.profile)[0]
        base = count_parameters(backbone)
        set_seed(seed)   # before building: LoRA's A and the adapters' W_down are drawn at random here
        model = build_model(run, backbone, tokenizer, settings, seed)
        counts = count_parameters(model)
        predicted, words = formula(run, model.config, settings.method_size(run))
        log(counts.line(f"{run_id} (seed {seed})") + f"; added {counts.total - base.total:,} (formula {predicted:,})")
        result = fit(model, data, settings, tokenizer=tokenizer, label_ids=label_ids, run_id=run_id, seed=seed,
                     resume=resume, log=log, accelerator=accelerator)
        if seed == settings.seed and accelerator.is_main_process:
            weights = save_weights(run, accelerator.unwrap_model(model), settings)
        per_seed.append({"seed": seed, **asdict(result), "max_val_accuracy": result.max_val_accuracy})
    record = _record(run, settings, per_seed, base.total, counts, predicted, words, weights, started,
                     accelerator.num_processes)
    if accelerator.is_main_process:
        path = write_results(settings.profile, run_id, record)
        log(f"results: {path}" + (f"; weights: {weights[0]} ({weights[1]:,} bytes)" if weights[0] else ""))
    accelerator.wait_for_everyone()
    return record


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
        "implementation": run.implementation, "profile": settings.profile, "model": profile.model,
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
    }


def evaluate_weights(run_id: str, settings: Settings, path=None) -> float:
    """Test accuracy (label scoring) of a run's saved weights loaded into a fresh backbone."""
    from .build import load_weights
    from .evaluation import label_accuracy

    run = get_run(run_id)
    check_sources(settings.profile)
    accelerator = make_accelerator()   # same device and precision as training
    backbone, tokenizer = load_backbone(settings.profile)
    model = load_weights(run, backbone, tokenizer, settings, path).to(accelerator.device)
    data = prepare_data(settings, tokenizer)
    return label_accuracy(model, data["test"], tokenizer, label_token_ids(tokenizer), settings.eval_batch_size,
                          accelerator, "test (saved weights)")
