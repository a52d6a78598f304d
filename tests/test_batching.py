"""Batching: every training review once per epoch (one process or several), shards that do not
overlap, and batches padded, masked and labelled as T5 expects."""
import random

import pytest
import torch

from helpers.data.batching import collate, evaluation_batches, pad_fraction, shard, training_batches
from helpers.data.tokens import Encoded


def _lengths(n, seed=0):
    rng = random.Random(seed)
    return [rng.randint(3, 60) for _ in range(n)]


@pytest.mark.parametrize("n, batch_size", [(1000, 32), (96, 32), (7, 32)])
def test_training_batches_hold_every_review_once_per_epoch(n, batch_size):
    lengths = _lengths(n)
    epochs = [training_batches(lengths, batch_size, seed=0, epoch=e) for e in (1, 2)]
    for batches in epochs:
        assert sorted(i for b in batches for i in b) == list(range(n))
        assert all(1 <= len(b) <= batch_size for b in batches)
    if n > batch_size:
        assert epochs[0] != epochs[1]                                                 # reshuffled each epoch
    assert training_batches(lengths, batch_size, seed=0, epoch=1) == epochs[0]      # and reproducibly


@pytest.mark.parametrize("world", [2, 3, 5, 7])
def test_training_shards_are_disjoint_equal_and_drop_no_review(world):
    lengths = _lengths(1000)
    batches = training_batches(lengths, 32, seed=1, epoch=1)   # 32 batches: a remainder for 3, 5 and 7
    shards = [shard(batches, rank, world, equal=True) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1                  # the same number of steps everywhere
    seen = [i for s in shards for b in s for i in b]
    assert sorted(seen) == list(range(1000))                   # each review exactly once, none dropped
    assert all(b for s in shards for b in s)


def test_evaluation_batches_sorted_and_sharded_without_overlap():
    lengths = _lengths(250)
    batches = evaluation_batches(lengths, 16)
    assert [lengths[i] for b in batches for i in b] == sorted(lengths, reverse=True)
    shards = [shard(batches, rank, 3, equal=False) for rank in range(3)]
    assert sorted(i for s in shards for b in s for i in b) == list(range(250))


def test_length_grouping_pads_far_less_than_random_batches():
    lengths = _lengths(3000)
    grouped = pad_fraction(lengths, training_batches(lengths, 32, seed=0, epoch=1))
    order = list(range(3000))
    random.Random(2).shuffle(order)
    naive = pad_fraction(lengths, [order[i:i + 32] for i in range(0, 3000, 32)])
    assert grouped < 0.1 < naive


def test_collate_pads_masks_and_labels():
    encoded = Encoded([torch.tensor([5, 6, 7, 1]), torch.tensor([8, 1]), torch.tensor([9, 9, 1])],
                      torch.tensor([1, 0, 1]))
    batch = collate(encoded, [1, 0, 2], label_ids=[40, 41], eos_id=1, pad_id=0)
    assert batch["input_ids"].tolist() == [[8, 1, 0, 0], [5, 6, 7, 1], [9, 9, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["labels"].tolist() == [[40, 1], [41, 1], [41, 1]]   # [label word, </s>] per class
    assert batch["classes"].tolist() == [0, 1, 1]
