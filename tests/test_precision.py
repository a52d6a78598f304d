"""The GPU's code paths, caught on a CPU (issue 21).

- Devices: every run is built on a backbone already on the meta device, then trained one step and
  label-scored there. A tensor a method creates on the CPU meets the meta weights and raises, as
  it would meet CUDA weights on a GPU.
- bf16: every run under CPU bf16 autocast, the way accelerate runs it on a GPU: a finite loss,
  trainable tensors kept in fp32 with fp32 gradients, and a gradient for every one of them.
- `fit` through accelerate's CPU bf16: the trained model is plain afterwards (it equals its
  reload, which runs in fp32) and the accelerator holds no model or optimizer.
- `precision=auto` on mocked GPUs: a T4 (7.5) gets fp32, an A100 (8.0) bf16.

What these cannot catch: CUDA kernels' own numerics (bf16 matmul rounding differs between CPU and
GPU), speed and memory on a real card, NCCL and several GPUs, and library code paths that branch
on `device.type == "cuda"`. `make gpu-check` runs those on a GPU.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.study.runs import ALL_RUNS, get_run
from helpers.study.settings import settings_for

RUN_IDS = [run.run_id for run in ALL_RUNS]
LABEL_IDS = [5, 6]   # two tokens of the small T5's vocabulary stand in for "negative", "positive"


def small_config():
    """The conftest's small_t5 configuration: t5-small's structure at a fraction of its width."""
    from transformers import T5Config

    return T5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, dropout_rate=0.1, feed_forward_proj="relu",
                    tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


class Tokenizer:
    """What the builders read of a tokenizer: the special ids that prompt initialisation avoids."""
    all_special_ids = [0, 1, 2]


def built(run_id: str, device: str):
    """Run `run_id`'s model, built (through the registry, as the CLI does) on a backbone that is
    already on `device`."""
    from transformers import T5ForConditionalGeneration

    from helpers.methods.registry import build_model

    torch.manual_seed(0)
    with torch.device(device):
        backbone = T5ForConditionalGeneration(small_config())
    return build_model(get_run(run_id), backbone, Tokenizer(), settings_for(run_id, "tiny"), seed=0)


def a_batch(device: str) -> dict:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, 64, (3, 7), generator=generator)
    mask = torch.ones_like(input_ids)
    mask[1, 5:] = 0
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device),
            "labels": torch.tensor([[5, 1], [6, 1], [5, 1]], device=device)}


def trainable(model) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


@pytest.fixture()
def strict_embedding(monkeypatch):
    """On the meta device an embedding accepts indices on the CPU; CUDA refuses them: so here too."""
    original = torch.nn.functional.embedding

    def embedding(indices, weight, *args, **kwargs):
        if indices.device != weight.device:
            raise RuntimeError(f"embedding indices on {indices.device}, its weights on {weight.device}")
        return original(indices, weight, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "embedding", embedding)


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_every_run_builds_trains_and_scores_on_the_device_of_its_backbone(run_id, strict_embedding):
    from helpers.training.evaluation import label_logits

    model = built(run_id, "meta")
    off_device = [name for name, t in list(model.named_parameters()) + list(model.named_buffers())
                  if t.device.type != "meta"]
    assert not off_device, f"{run_id} left tensors on the CPU: {off_device[:3]}"
    batch = a_batch("meta")
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    assert all(p.grad is not None and p.grad.device.type == "meta" for p in trainable(model).values())
    scores = label_logits(model.eval(), batch["input_ids"], batch["attention_mask"], LABEL_IDS, 0)
    assert scores.device.type == "meta" and scores.shape == (3, 2)


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_every_run_keeps_its_bf16_invariants_under_cpu_autocast(run_id):
    model = built(run_id, "cpu").train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**a_batch("cpu"), use_cache=False).loss
    assert torch.isfinite(loss), run_id
    loss.backward()
    tensors = trainable(model)
    assert tensors, f"{run_id} trains nothing"
    assert {name for name, p in tensors.items() if p.dtype != torch.float32} == set()
    missing = [name for name, p in tensors.items() if p.grad is None]
    assert not missing, f"{run_id}: no gradient for {missing[:3]}"
    assert {name for name, p in tensors.items() if p.grad.dtype != torch.float32} == set()


def test_label_scoring_compares_fp32_logits_under_bf16_autocast(small_t5, batch):
    """bf16 keeps 8 bits of mantissa: logits computed in it sit on the bf16 grid, and close ones tie."""
    from helpers.training.evaluation import label_logits

    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = label_logits(small_t5, batch["input_ids"], batch["attention_mask"], LABEL_IDS, 0)
    exact = label_logits(small_t5, batch["input_ids"], batch["attention_mask"], LABEL_IDS, 0)
    assert scores.dtype == torch.float32
    assert not torch.equal(scores, scores.bfloat16().float()), "the label logits were rounded to bf16"
    # The head's input is fp32 under autocast (T5's final layer norm), so only the backbone's bf16
    # matmuls separate the two; the head itself no longer adds its rounding.
    assert torch.allclose(scores, exact, atol=0.1)


@pytest.fixture()
def fresh_accelerate_state():
    """accelerate keeps one precision per process: start and leave it clean around a bf16 test."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_a_bf16_fit_leaves_the_trained_model_plain_and_the_accelerator_empty(tiny_backbone_dir, fresh_accelerate_state):
    from helpers.methods.lora import add_lora
    from helpers.notebook.display import first_step_logits
    from helpers.methods.registry import load_weights
    from helpers.training.experiment import Experiment

    settings = settings_for("lora_scratch_8", "tiny", {"epochs": 1, "train_limit": 64, "test_limit": 64,
                                                        "val_size": 64, "precision": "bf16", "generate_eval": False})
    experiment = Experiment("lora_scratch_8", settings, log=lambda *_: None)
    assert experiment.accelerator.mixed_precision == "bf16"
    model = add_lora(experiment.backbone(), rank=settings.rank, alpha=settings.lora_alpha, dropout=settings.lora_dropout)
    experiment.fit(model)
    assert "_original_forward" not in model.__dict__
    assert model.forward.__func__ is type(model).forward, "the autocast wrapper is still on the trained model"
    assert experiment.accelerator._models == [] and experiment.accelerator._optimizers == []
    reloaded = load_weights(experiment.run, experiment.pretrained(), experiment.tokenizer, settings)
    difference = (first_step_logits(model, experiment.tokenizer) - first_step_logits(reloaded, experiment.tokenizer))
    assert difference.abs().max().item() < 1e-5   # the notebooks' reload-check bar
    assert experiment.finish()["precision"] == "bf16"


def test_notebook_07_scores_under_the_autocast_of_every_other_accuracy(tiny_backbone_dir, fresh_accelerate_state):
    from helpers.training.compose import Composition
    from helpers.training.experiment import Experiment

    settings = settings_for("lora_scratch_8", "tiny", {"test_limit": 32, "val_size": 32, "precision": "bf16"})
    experiment = Experiment("lora_scratch_8", settings, log=lambda *_: None)
    entered, autocast = [], experiment.accelerator.autocast
    experiment.accelerator.autocast = lambda *args, **kwargs: entered.append(1) or autocast(*args, **kwargs)
    Composition(experiment).score("backbone", experiment.pretrained(), "no module")
    assert entered, "notebook 07 scored outside the accelerator's autocast"


@pytest.mark.parametrize("capability, expected", [((7, 0), "fp32"), ((7, 5), "fp32"), ((8, 0), "bf16"),
                                                   ((9, 0), "bf16")])
def test_auto_precision_gives_bf16_only_to_gpus_that_compute_it_natively(monkeypatch, capability, expected):
    from helpers.training import runtime

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)   # as torch 2.13 says on a T4
    assert runtime.resolve_precision("auto") == expected
    assert runtime.resolve_precision("fp32") == "fp32"


def test_auto_precision_is_fp32_on_a_cpu_and_bad_values_are_refused(monkeypatch):
    from helpers import UserError
    from helpers.training.runtime import resolve_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_precision("auto") == "fp32" and resolve_precision("bf16") == "bf16"
    with pytest.raises(UserError, match="auto, bf16, fp32"):
        settings_for("lora_scratch_8", "tiny", {"precision": "fp16"})


def test_notebook_05_in_bf16_reloads_and_merges_the_same_model(tiny_backbone_dir, tmp_path):
    """The student's path: notebook 05 under papermill with precision=bf16 (accelerate's CPU bf16).
    Its three reload checks and its merge check compare the trained `model`, in fp32 after
    training, with fp32 copies: equal within the notebooks' bar only if no autocast is left on it."""
    import json
    import re

    import papermill

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    output = tmp_path / "05_lora.ipynb"
    overrides = {"precision": "bf16", "train_limit": 256, "test_limit": 128, "generate_eval": False}
    papermill.execute_notebook(str(notebooks / "05_lora.ipynb"), str(output), cwd=str(notebooks),
                               parameters={"profile": "tiny", "epochs": 1, "overrides": overrides},
                               kernel_name="python3", progress_bar=False)
    cells = json.loads(output.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "bf16" in text                                                    # the experiment says what it runs in
    assert text.count("-> same model") == 3 and "DIFFERENT" not in text
    merged = float(re.search(r"max \|merged - unmerged\| logit difference: (\S+);", text)[1])
    assert merged < 1e-5   # the reload check's bar: merging changes only rounding
