"""One fit function for every method: AdamW with warmup and linear decay, gradient clipping,
bf16 autocast where the GPU supports it (never fp16: T5 overflows), epoch-0 evaluation,
validation every epoch, the best epoch's weights kept and evaluated once on the test set.

`accelerate` handles devices, mixed precision and several processes (torchrun /
accelerate launch); the loop itself stays visible because it is what the notebooks teach.
"""
from __future__ import annotations

import math
import signal
import time
from dataclasses import asdict, dataclass

import torch

from .progress import progress
from .batching import collate, shard, training_batches
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import UserError
from .evaluation import generation_counts, label_accuracy


@dataclass
class FitResult:
    val_accuracy: list[float]              # epoch 0 (before training) first
    train_loss: list[float]
    best_epoch: int
    test_accuracy: float
    test_generate_accuracy: float | None
    test_invalid_rate: float | None
    wall_seconds: float
    train_samples_per_second: float
    resumed_from_epoch: int = 0

    @property
    def max_val_accuracy(self) -> float:
        return max(self.val_accuracy)


def make_accelerator():
    from accelerate import Accelerator

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    # cpu=True without a GPU: only then does accelerate join torchrun's processes with gloo;
    # otherwise each process would silently train alone on all the data.
    return Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=not cuda)


def trainable_parameters(model) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _optimizer(model, settings):
    # No weight decay on biases, layer norms or soft prompts: decay would pull them to zero.
    decay, no_decay = [], []
    for name, parameter in trainable_parameters(model):
        (decay if parameter.ndim >= 2 and "prompt" not in name else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": settings.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=settings.lr)


def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu", copy=True) for n, p in trainable_parameters(model)}


def _load_trainable_state(model, state) -> None:
    parameters = dict(trainable_parameters(model))
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


class _StopRequested:
    """SIGTERM finishes nothing half-way: the epoch in flight is abandoned, checkpoints stay."""

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, self._raise)
        except ValueError:   # not the main thread (e.g. some notebook front ends): keep defaults
            self.previous = None
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def fit(model, data, settings, *, tokenizer, label_ids, run_id: str, seed: int, resume: bool = False,
        log=print, accelerator=None) -> FitResult:
    from transformers import get_linear_schedule_with_warmup
    from transformers import set_seed

    accelerator = accelerator or make_accelerator()
    rank, world = accelerator.process_index, accelerator.num_processes
    set_seed(seed)
    pad_id, eos_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    lengths = data["train"].lengths()
    steps_per_epoch = len(shard(training_batches(lengths, settings.batch_size, seed, 1), rank, world, equal=True))
    total_steps = steps_per_epoch * settings.epochs
    optimizer = _optimizer(model, settings)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(settings.warmup_ratio * total_steps), total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    plain = accelerator.unwrap_model(model)

    def evaluate(split: str, desc: str) -> float:
        return label_accuracy(plain, data[split], tokenizer, label_ids, settings.eval_batch_size, accelerator, desc)

    state = load_checkpoint(settings.profile, run_id, seed) if resume else None
    if resume and state is None:
        log(f"--resume: no checkpoint for {run_id} (seed {seed}) yet; starting from epoch 0")
    if state is not None and state.get("settings") != asdict(settings):
        changed = sorted(k for k, v in asdict(settings).items() if state.get("settings", {}).get(k) != v)
        raise UserError(f"the checkpoint of {run_id} (seed {seed}) was written with other settings ({', '.join(changed)}); "
                        "resume with the same settings, or drop --resume to start again")
    if state is not None:
        _load_trainable_state(plain, state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        val_accuracy, train_loss = state["val_accuracy"], state["train_loss"]
        best_state, train_seconds = state["best"], state["train_seconds"]
        start_epoch = len(val_accuracy)
        log(f"resumed {run_id} (seed {seed}) after epoch {start_epoch - 1}/{settings.epochs} "
            f"from its checkpoint; val_accuracy so far {[round(a, 4) for a in val_accuracy]}")
    else:
        val_accuracy = [evaluate("val", "epoch 0 validation")]
        train_loss, best_state, train_seconds, start_epoch = [], _trainable_state(plain), 0.0, 1
        log(f"epoch 0/{settings.epochs} (before training) val_accuracy={val_accuracy[0]:.4f}")

    trainable = [p for _, p in trainable_parameters(plain)]   # fixed for the run: not re-walked every step
    started = time.time()
    trained_samples, session_seconds = 0, 0.0   # this session only: a resumed run's speed is its own
    with _StopRequested():
        for epoch in range(start_epoch, settings.epochs + 1):
            model.train()
            batches = shard(training_batches(lengths, settings.batch_size, seed, epoch), rank, world, equal=True)
            # Re-seed per epoch so a resumed run draws the same dropout masks as an unbroken one.
            torch.manual_seed(seed * 1000 + epoch)
            # Summed on the device: .item() every step would stall a GPU on each batch.
            epoch_start, running = time.time(), torch.zeros((), device=accelerator.device)
            bar = progress(batches, f"epoch {epoch}/{settings.epochs}", rank)
            for step, indices in enumerate(bar, 1):
                batch = collate(data["train"], indices, label_ids, eos_id, pad_id)
                with accelerator.autocast():
                    loss = model(input_ids=batch["input_ids"].to(accelerator.device),
                                 attention_mask=batch["attention_mask"].to(accelerator.device),
                                 labels=batch["labels"].to(accelerator.device), use_cache=False).loss
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(trainable, settings.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                running += loss.detach().float()
                trained_samples += len(indices) * world
                if step % 20 == 0 or step == len(batches):
                    bar.set_postfix(loss=f"{running.item() / step:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            train_seconds += time.time() - epoch_start
            session_seconds += time.time() - epoch_start
            mean_loss = running / max(len(batches), 1)
            train_loss.append(accelerator.reduce(mean_loss, reduction="mean").item())   # over all processes
            val_accuracy.append(evaluate("val", f"epoch {epoch} validation"))
            improved = val_accuracy[-1] > max(val_accuracy[:-1])
            checkpointing = settings.checkpoint and accelerator.is_main_process
            # One copy of the weights serves as the new best and as the checkpoint's model.
            snapshot = _trainable_state(plain) if improved or checkpointing else None
            if improved:
                best_state = snapshot
            log(f"epoch {epoch}/{settings.epochs} train_loss={train_loss[-1]:.4f} val_accuracy={val_accuracy[-1]:.4f}")
            if checkpointing:
                save_checkpoint(settings.profile, run_id, seed, {
                    "model": snapshot, "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": {"torch": torch.get_rng_state()},
                    "val_accuracy": val_accuracy, "train_loss": train_loss, "best": best_state,
                    "train_seconds": train_seconds, "settings": asdict(settings)})
            accelerator.wait_for_everyone()

    best_epoch = max(range(len(val_accuracy)), key=val_accuracy.__getitem__)   # first of ties
    _load_trainable_state(plain, best_state)
    test_accuracy = evaluate("test", "test (label scoring)")
    generate_accuracy = invalid_rate = None
    if settings.generate_eval:
        correct, invalid, total = generation_counts(plain, tokenizer, data["test"], batch_size=settings.eval_batch_size,
                                                    label_ids=label_ids, device=accelerator.device, rank=rank,
                                                    world=world, autocast=accelerator.autocast)
        counts = accelerator.reduce(torch.tensor([correct, invalid, total], device=accelerator.device), reduction="sum")
        generate_accuracy = counts[0].item() / counts[2].item()
        invalid_rate = counts[1].item() / counts[2].item()
    log(f"best epoch {best_epoch}: val_accuracy={val_accuracy[best_epoch]:.4f}; test_accuracy={test_accuracy:.4f}"
        + (f"; generate: accuracy={generate_accuracy:.4f}, invalid={invalid_rate:.4f}" if generate_accuracy is not None else ""))
    samples_per_second = trained_samples / session_seconds if session_seconds else 0.0
    return FitResult(val_accuracy=val_accuracy, train_loss=train_loss, best_epoch=best_epoch,
                     test_accuracy=test_accuracy, test_generate_accuracy=generate_accuracy,
                     test_invalid_rate=invalid_rate, wall_seconds=time.time() - started,
                     train_samples_per_second=samples_per_second,
                     resumed_from_epoch=start_epoch - 1 if state is not None else 0)
