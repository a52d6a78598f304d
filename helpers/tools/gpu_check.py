"""`make gpu-check` (`python -m helpers gpu-check [--cpu-smoke]`): one prepared check of the GPU
paths, with no hub: a t5-small-shaped stand-in with random weights, real reviews from
../shared/data/imdb where present (the synthetic corpus otherwise), a short bf16 and fp32 `fit` of
lora_scratch_8 and full_ft through the notebooks' API with the reload check, peak memory and
samples/s of each, then the bench of the assignment's ten runs; one table at the end. Sized to
finish in well under 8 minutes on one GPU. Accuracy means nothing here (random weights).

`--cpu-smoke`: the same steps on a CPU at tiny sizes (a small T5, synthetic reviews, a two-run
speed check instead of the bench), in seconds; the test suite runs it."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch

RUN_IDS = ("lora_scratch_8", "full_ft")
PRECISIONS = ("bf16", "fp32")
# Per fit: one short epoch, validation and test subsets; the bench then measures speed properly.
GPU_SIZES = dict(epochs=1, train_limit=1024, val_size=256, test_limit=512, max_length=512, batch_size=32)
SMOKE_SIZES = dict(epochs=1, train_limit=32, val_size=16, test_limit=16, max_length=32, batch_size=16,
                   eval_batch_size=16)
SMOKE_SHAPE = dict(batch=2, length=16, eval_batch=2, rounds=1)
SMOKE_CONFIG = dict(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=4)


def stand_in(folder: Path, smoke: bool) -> tuple[str, str]:
    """Save a random-weight T5 (t5-small's shape; a small one for the smoke) and a tokenizer
    into `folder`; (its path, the profile whose data it reads: full = real IMDB, tiny = synthetic)."""
    from transformers import T5Config, T5ForConditionalGeneration

    from helpers.data.real_imdb import imdb_tokenizer_dir, shared_imdb_dir
    from helpers.data.synthetic import build_tokenizer
    from helpers.models.shapes import t5_config

    real = shared_imdb_dir() if not smoke else None
    if real is not None:
        os.environ["DATA_PATH"] = str(real)   # the full profile's local copy of IMDB
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(imdb_tokenizer_dir()) if real else build_tokenizer()
    config = t5_config("t5-small") if not smoke else T5Config(**SMOKE_CONFIG, decoder_start_token_id=0,
                                                              vocab_size=len(tokenizer))
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder), ("full" if real else "tiny")


def one_fit(run_id: str, precision: str, model_dir: str, profile: str, sizes: dict) -> dict:
    """A short fit through the notebooks' API, then the reload check: the row of the table."""
    from helpers.methods.registry import build_model, load_weights
    from helpers.notebook.display import first_step_logits
    from helpers.study.settings import settings_for
    from helpers.tools.memory import peak_rss_bytes
    from helpers.training.checkpoints import load_trainable_state, trainable_state
    from helpers.training.experiment import Experiment

    settings = settings_for(run_id, profile, dict(sizes, model=model_dir, precision=precision, generate_eval=False,
                                                  checkpoint=False))
    experiment = Experiment(run_id, settings, log=lambda *_: None)
    model = build_model(experiment.run, experiment.backbone(), experiment.tokenizer, settings, seed=0)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = experiment.fit(model)
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else peak_rss_bytes()
    if experiment.run.method == "full":   # no weights file: the trained tensors into a fresh backbone
        reloaded = experiment.pretrained()
        load_trainable_state(reloaded, trainable_state(model))
    else:
        reloaded = load_weights(experiment.run, experiment.pretrained(), experiment.tokenizer, settings)
    difference = (first_step_logits(model, experiment.tokenizer) -
                  first_step_logits(reloaded, experiment.tokenizer)).abs().max().item()
    held = len(experiment.accelerator._models) + len(experiment.accelerator._optimizers)
    return {"run": run_id, "precision": experiment.finish()["precision"], "samples_per_second":
            result.train_samples_per_second, "peak_mib": peak / 2**20, "reload_difference": difference,
            "held_after_fit": held}


def bench_lines(smoke: bool) -> list[str]:
    """The bench of the ten runs on a GPU; on the smoke, a two-run speed check at a tiny shape."""
    from helpers.study.runs import RUNS
    from helpers.tools.bench import collect, format_table, measure_speed

    if not smoke:
        return format_table(collect("t5-small", [run.run_id for run in RUNS])).splitlines()
    speeds = measure_speed(["full_ft", "lora_scratch_8"], shape=SMOKE_SHAPE)
    return [f"bench (smoke, t5-small shape, batch {SMOKE_SHAPE['batch']} x {SMOKE_SHAPE['length']}): {run_id} "
            f"{figures['train_samples_per_second']:.1f} train samples/s" for run_id, figures in speeds.items()]


def table(rows: list[dict], device: str, peak_kind: str) -> str:
    head = f"{'run':<16} {'precision':>9} {'samples/s':>10} {peak_kind:>14} {'reload max|diff|':>17} {'check':>11} {'held':>5}"
    lines = [f"gpu-check on {device}", head, "-" * len(head)]
    for r in rows:
        verdict = "same model" if r["reload_difference"] < 1e-5 else "DIFFERENT"   # the notebooks' bar
        lines.append(f"{r['run']:<16} {r['precision']:>9} {r['samples_per_second']:>10.1f} {r['peak_mib']:>14,.0f} "
                     f"{r['reload_difference']:>17.2e} {verdict:>11} {r['held_after_fit']:>5}")
    lines.append("held: models and optimizers the accelerator still holds after fit (0 expected)")
    return "\n".join(lines)


def main(cpu_smoke: bool = False) -> int:
    from helpers.study.paths import use_output_dir
    from helpers.study.results import device_description

    if not cpu_smoke and not torch.cuda.is_available():
        print("gpu-check: no GPU here; run `python -m helpers gpu-check --cpu-smoke` for the reduced CPU form")
        return 2
    started, previous = time.time(), {k: os.environ.get(k) for k in ("PEFT_STUDY_ROOT", "DATA_PATH", "TQDM_DISABLE")}
    os.environ["TQDM_DISABLE"] = "1"   # one table at the end, not forty progress bars
    with tempfile.TemporaryDirectory() as scratch:
        use_output_dir(scratch)   # the stand-in's results and weights never mix with a real study's
        try:
            model_dir, profile = stand_in(Path(scratch) / "stand-in", cpu_smoke)
            sizes = SMOKE_SIZES if cpu_smoke else GPU_SIZES
            rows = [one_fit(run_id, precision, model_dir, profile, sizes)
                    for precision in PRECISIONS for run_id in RUN_IDS]
            bench = bench_lines(cpu_smoke)
        finally:
            for key, value in previous.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    data = "real IMDB reviews" if profile == "full" else "synthetic reviews"
    print(table(rows, f"{device_description()}; {data}; random weights",
                "peak MiB (GPU)" if torch.cuda.is_available() else "peak RSS MiB"))
    print("\n".join(bench))
    print(f"gpu-check finished in {time.time() - started:.0f} s")
    return 0 if all(r["reload_difference"] < 1e-5 and r["held_after_fit"] == 0 for r in rows) else 1
