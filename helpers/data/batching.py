"""Batches with little padding: length-grouped shuffled batches for training, length-sorted
batches for evaluation, each padded only to its own longest review."""
from __future__ import annotations

import random

import torch

GROUP_BATCHES = 50   # sort within windows of 50 batches: little padding, still a random order


def training_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffle, sort each window of GROUP_BATCHES batches by length, cut, then shuffle the batches."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * GROUP_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def evaluation_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def shard(batches: list[list[int]], rank: int, world: int, equal: bool) -> list[list[int]]:
    """This process's share of the batches. Training needs the same number of steps on every
    process (each step synchronises gradients): the reviews of the batches left over after the
    last full round are split across the processes instead of dropped, so every review is still
    seen exactly once per epoch."""
    if world == 1:
        return batches
    if equal:
        batches = _equal_rounds(batches, world)
    return batches[rank::world]


def _equal_rounds(batches: list[list[int]], world: int) -> list[list[int]]:
    full = len(batches) // world * world
    leftover = [i for batch in batches[full:] for i in batch]
    rounds = batches[:full]
    parts = [leftover[r::world] for r in range(world)]
    if not leftover:
        return rounds
    if all(parts):               # one more, smaller round
        return rounds + parts
    if not rounds:
        from helpers import UserError
        raise UserError(f"{len(leftover)} training reviews cannot be split over {world} processes; "
                        "use fewer processes or more reviews")
    last = [list(b) for b in rounds[-world:]]   # too few to go round: the last round's batches grow by one
    for batch, extra in zip(last, parts):
        batch += extra
    return rounds[:-world] + last


def collate(encoded, indices: list[int], label_ids: list[int], eos_id: int, pad_id: int) -> dict:
    """Pad a batch to its longest review; targets are [label word, </s>] as T5 was trained."""
    ids = [encoded.ids[i] for i in indices]
    # ids are stored compact (int16 for T5's vocabulary); the model's embedding wants int64.
    input_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=pad_id).long()   # (B, L)
    attention_mask = (torch.arange(input_ids.size(1))[None, :] < torch.tensor([len(x) for x in ids])[:, None]).long()
    classes = encoded.labels[indices]                                                            # (B,)
    labels = torch.stack([torch.tensor(label_ids)[classes], torch.full_like(classes, eos_id)], dim=1)   # (B, 2)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "classes": classes}


def pad_fraction(lengths: list[int], batches: list[list[int]]) -> float:
    """Share of padding tokens in these batches."""
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1.0 - sum(lengths[i] for b in batches for i in b) / padded
