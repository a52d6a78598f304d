"""The training loop, in the named steps notebook 01 shows: start (or resume), train one epoch,
end the epoch (validate, keep the best, checkpoint), and the final test of the best epoch.

AdamW with warmup and linear decay, gradient clipping, bf16 autocast where the GPU computes it
natively or `precision=bf16` asks for it (never fp16: T5 overflows). `accelerate` handles
devices, mixed precision and several processes (torchrun / accelerate launch). `fit` trains
the very model it is given, in place: afterwards that object carries the best epoch's weights,
and is plain again (no autocast wrapper on it).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from helpers import UserError
from helpers.data.batching import collate, shard, training_batches
from helpers.training.checkpoints import (load_checkpoint, load_trainable_state, save_checkpoint,
                                          trainable_parameters, trainable_state)
from helpers.training.evaluation import generation_counts, label_accuracy
from helpers.training.runtime import StopRequested, make_accelerator, progress


@dataclass
class FitResult:
    val_accuracy: list[float]              # epoch 0 (before training) first
    train_loss: list[float]                # mean per epoch, epoch 1 first
    best_epoch: int
    test_accuracy: float
    test_generate_accuracy: float | None
    test_invalid_rate: float | None
    wall_seconds: float
    train_samples_per_second: float
    resumed_from_epoch: int = 0
    step_loss: list[float] = field(default_factory=list)   # every training step, for the loss curve

    @property
    def max_val_accuracy(self) -> float:
        return max(self.val_accuracy)


def make_optimizer(model, settings) -> torch.optim.AdamW:
    """AdamW over the trainable tensors. No weight decay on vectors (biases, layer-norm scales) or
    soft prompts: decay pulls towards zero, which for them is not a "small" solution."""
    decay, no_decay = [], []
    for name, parameter in trainable_parameters(model):
        (decay if parameter.ndim >= 2 and "prompt" not in name else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": settings.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=settings.lr)


class Training:
    """One seed's training of one model: the state the named steps share."""

    def __init__(self, model, data, settings, *, tokenizer, label_ids, run_id: str, seed: int,
                 log=print, accelerator=None):
        from transformers import get_linear_schedule_with_warmup, set_seed

        self.accelerator = accelerator or make_accelerator(precision=settings.precision)
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.data, self.settings, self.tokenizer, self.label_ids = data, settings, tokenizer, label_ids
        self.run_id, self.seed, self.log = run_id, seed, log
        set_seed(seed)
        self.lengths = data["train"].lengths()
        total_steps = len(self.batches(epoch=1)) * settings.epochs
        optimizer = make_optimizer(model, settings)
        self.scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(settings.warmup_ratio * total_steps),
                                                         total_steps)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.plain = self.accelerator.unwrap_model(self.model)   # the caller's object, even under DDP
        self.trainable = [p for _, p in trainable_parameters(self.plain)]   # fixed: not re-walked every step
        self.trained_samples, self.session_seconds = 0, 0.0   # this session only: a resumed run's speed is its own

    def batches(self, epoch: int) -> list[list[int]]:
        """This process's training batches of an epoch: length-grouped, shuffled, equal per process."""
        batches = training_batches(self.lengths, self.settings.batch_size, self.seed, epoch)
        return shard(batches, self.rank, self.world, equal=True)

    def evaluate(self, split: str, desc: str) -> float:
        return label_accuracy(self.plain, self.data[split], self.tokenizer, self.label_ids,
                              self.settings.eval_batch_size, self.accelerator, desc)

    # ------------------------------------------------------------------ step 1: start or resume
    def start_or_resume(self, resume: bool) -> None:
        state = load_checkpoint(self.settings.profile, self.run_id, self.seed, self.settings.model) if resume else None
        if resume and state is None:
            self.log(f"--resume: no checkpoint for {self.run_id} (seed {self.seed}) yet; starting from epoch 0")
        if state is None:
            self.val_accuracy = [self.evaluate("val", "epoch 0 validation")]
            self.train_loss, self.step_loss, self.train_seconds = [], [], 0.0
            self.best_state, self.start_epoch, self.resumed_from = trainable_state(self.plain), 1, 0
            self.log(f"epoch 0/{self.settings.epochs} (before training) val_accuracy={self.val_accuracy[0]:.4f}")
            return
        if state.get("settings") != asdict(self.settings):
            changed = sorted(k for k, v in asdict(self.settings).items() if state.get("settings", {}).get(k) != v)
            raise UserError(f"the checkpoint of {self.run_id} (seed {self.seed}) was written with other settings "
                            f"({', '.join(changed)}); resume with the same settings, or drop --resume to start again")
        load_trainable_state(self.plain, state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.val_accuracy, self.train_loss = state["val_accuracy"], state["train_loss"]
        self.step_loss = state.get("step_loss", [])
        self.best_state, self.train_seconds = state["best"], state["train_seconds"]
        self.start_epoch = len(self.val_accuracy)
        self.resumed_from = self.start_epoch - 1
        self.log(f"resumed {self.run_id} (seed {self.seed}) after epoch {self.resumed_from}/{self.settings.epochs} "
                 f"from its checkpoint; val_accuracy so far {[round(a, 4) for a in self.val_accuracy]}")

    def remaining_epochs(self) -> range:
        return range(self.start_epoch, self.settings.epochs + 1)

    # ------------------------------------------------------------------ step 2: one epoch
    def train_one_epoch(self, epoch: int) -> torch.Tensor:
        """Forward, loss, backward, clip, step, schedule for every batch; the per-step losses."""
        model, accelerator, device = self.model, self.accelerator, self.accelerator.device
        model.train()
        batches = self.batches(epoch)
        torch.manual_seed(self.seed * 1000 + epoch)   # so a resumed run draws the same dropout masks
        started, losses = time.time(), []
        bar = progress(batches, f"epoch {epoch}/{self.settings.epochs}", self.rank)
        for step, indices in enumerate(bar, 1):
            batch = collate(self.data["train"], indices, self.label_ids, self.tokenizer.eos_token_id,
                            self.tokenizer.pad_token_id)
            with accelerator.autocast():   # bf16 on GPUs that support it, else a no-op
                loss = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                             labels=batch["labels"].to(device), use_cache=False).loss   # cross-entropy of "label </s>"
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(self.trainable, self.settings.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach().float())   # kept on the device: .item() every step would stall a GPU
            self.trained_samples += len(indices) * self.world
            if step % 20 == 0 or step == len(batches):
                bar.set_postfix(loss=f"{torch.stack(losses[-20:]).mean().item():.4f}",
                                lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
        elapsed = time.time() - started
        self.train_seconds += elapsed
        self.session_seconds += elapsed
        return torch.stack(losses) if losses else torch.zeros(0, device=device)

    # ------------------------------------------------------------------ step 3: end of epoch
    def end_of_epoch(self, epoch: int, losses: torch.Tensor) -> None:
        """Validate, keep the best epoch's weights, write the checkpoint."""
        mean_loss = losses.sum() / max(len(losses), 1)
        self.train_loss.append(self.accelerator.reduce(mean_loss, reduction="mean").item())   # over all processes
        self.step_loss += [round(x, 5) for x in losses.tolist()]
        self.val_accuracy.append(self.evaluate("val", f"epoch {epoch} validation"))
        improved = self.val_accuracy[-1] > max(self.val_accuracy[:-1])
        checkpointing = self.settings.checkpoint and self.accelerator.is_main_process
        snapshot = trainable_state(self.plain) if improved or checkpointing else None   # one copy serves both
        if improved:
            self.best_state = snapshot
        self.log(f"epoch {epoch}/{self.settings.epochs} train_loss={self.train_loss[-1]:.4f} "
                 f"val_accuracy={self.val_accuracy[-1]:.4f}")
        if checkpointing:
            save_checkpoint(self.settings.profile, self.run_id, self.seed, {
                "model": snapshot, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": {"torch": torch.get_rng_state()}, "val_accuracy": self.val_accuracy,
                "train_loss": self.train_loss, "step_loss": self.step_loss, "best": self.best_state,
                "train_seconds": self.train_seconds, "settings": asdict(self.settings)}, self.settings.model)
        self.accelerator.wait_for_everyone()

    # ------------------------------------------------------------------ step 4: final test
    def final_test(self, started: float) -> FitResult:
        """Load the best epoch's weights into the model, then test it once (and by generate)."""
        best_epoch = max(range(len(self.val_accuracy)), key=self.val_accuracy.__getitem__)   # first of ties
        load_trainable_state(self.plain, self.best_state)
        test_accuracy = self.evaluate("test", "test (label scoring)")
        generate_accuracy = invalid_rate = None
        if self.settings.generate_eval:
            generate_accuracy, invalid_rate = self.generate_test()
        self.log(f"best epoch {best_epoch}: val_accuracy={self.val_accuracy[best_epoch]:.4f}; "
                 f"test_accuracy={test_accuracy:.4f}" + (f"; generate: accuracy={generate_accuracy:.4f}, "
                                                        f"invalid={invalid_rate:.4f}" if generate_accuracy is not None else ""))
        return FitResult(val_accuracy=self.val_accuracy, train_loss=self.train_loss, best_epoch=best_epoch,
                         test_accuracy=test_accuracy, test_generate_accuracy=generate_accuracy,
                         test_invalid_rate=invalid_rate, wall_seconds=time.time() - started,
                         train_samples_per_second=self.trained_samples / self.session_seconds if self.session_seconds else 0.0,
                         resumed_from_epoch=self.resumed_from, step_loss=self.step_loss)

    def generate_test(self) -> tuple[float, float]:
        """(accuracy, invalid-output rate) of greedy generation + string match, over all processes."""
        device = self.accelerator.device
        correct, invalid, total = generation_counts(self.plain, self.tokenizer, self.data["test"],
                                                    batch_size=self.settings.eval_batch_size, label_ids=self.label_ids,
                                                    device=device, rank=self.rank, world=self.world,
                                                    autocast=self.accelerator.autocast)
        counts = self.accelerator.reduce(torch.tensor([correct, invalid, total], device=device), reduction="sum")
        return counts[0].item() / counts[2].item(), counts[1].item() / counts[2].item()

    # ------------------------------------------------------------------ afterwards
    def release(self) -> None:
        """Give the caller back a plain model and let go of what `prepare` kept. Otherwise the
        caller's `model` keeps accelerate's bf16-autocast `forward` (so it disagrees with its own
        reload, which runs in fp32), and the accelerator holds every seed's model and optimizer,
        Adam state included, for as long as it lives."""
        self.accelerator.unwrap_model(self.model, keep_fp32_wrapper=False)
        self.accelerator.free_memory()


def fit(model, data, settings, *, tokenizer, label_ids, run_id: str, seed: int, resume: bool = False,
        log=print, accelerator=None) -> FitResult:
    """Train `model` in place; afterwards it carries the best validation epoch's weights."""
    training = Training(model, data, settings, tokenizer=tokenizer, label_ids=label_ids, run_id=run_id,
                        seed=seed, log=log, accelerator=accelerator)
    try:
        training.start_or_resume(resume)
        started = time.time()
        with StopRequested():
            for epoch in training.remaining_epochs():
                losses = training.train_one_epoch(epoch)
                training.end_of_epoch(epoch, losses)
        return training.final_test(started)
    finally:   # also after an interruption: the notebook's `model` must be usable as it is
        training.release()
