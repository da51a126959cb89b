"""Dynamic batching by padded duration: coverage, budget, determinism, exact len, DataLoader use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from deepfake_rl.data.batching import DurationBatchSampler, padded_cost
from deepfake_rl.data.dataset import collate_padded

LENGTHS = np.random.default_rng(0).integers(1_000, 64_000, size=500)
MAX_TOTAL = 200_000


def sampler(seed: int = 0, lengths: np.ndarray = LENGTHS, **options) -> DurationBatchSampler:
    return DurationBatchSampler(lengths, MAX_TOTAL, generator=torch.Generator().manual_seed(seed),
                                **options)


@pytest.mark.parametrize("options", [{}, {"max_items": 3}, {"shuffle": False}, {"chunk_batches": 1}])
def test_every_index_once_and_within_budget(options: dict) -> None:
    batches = list(sampler(**options))
    assert sorted(i for batch in batches for i in batch) == list(range(len(LENGTHS)))
    assert all(padded_cost(LENGTHS[batch]) <= MAX_TOTAL for batch in batches)
    if "max_items" in options:
        assert max(map(len, batches)) <= options["max_items"]


def test_sorting_within_chunks_keeps_padding_low() -> None:
    batches = list(sampler())
    padding = sum(padded_cost(LENGTHS[b]) - LENGTHS[b].sum() for b in batches) / LENGTHS.sum()
    assert padding < 0.15
    assert np.mean([len(b) for b in batches]) > 3  # batches are filled, not singletons


def test_oversized_item_is_its_own_batch_with_a_warning() -> None:
    lengths = np.array([10, 20, 500, 30, 40, 700])
    with pytest.warns(UserWarning, match="2 item"):
        batches = list(DurationBatchSampler(lengths, 100, generator=torch.Generator().manual_seed(0)))
    assert [2] in batches and [5] in batches
    assert sorted(i for batch in batches for i in batch) == list(range(6))
    assert all(padded_cost(lengths[b]) <= 100 for b in batches if len(b) > 1)


def test_same_generator_state_same_batches_other_seed_other_batches() -> None:
    assert list(sampler(3)) == list(sampler(3))
    assert list(sampler(3)) != list(sampler(4))
    epochs = sampler(3)
    assert list(epochs) != list(epochs)  # the generator advances: a new shuffle every epoch


def test_len_is_exact_for_every_epoch() -> None:
    batches = sampler(5, chunk_batches=2)
    for _ in range(4):
        expected = len(batches)
        assert len(batches) == expected  # cached for the same generator state
        assert len(list(batches)) == expected


def test_no_shuffle_is_deterministic_without_a_generator() -> None:
    fixed = DurationBatchSampler(LENGTHS, MAX_TOTAL, shuffle=False)
    assert list(fixed) == list(fixed) and len(fixed) == len(list(fixed))


@pytest.mark.parametrize("arguments", [([5, -1], 10), ([5], 0), ([[5]], 10)])
def test_rejects_bad_arguments(arguments: tuple) -> None:
    with pytest.raises(ValueError):
        DurationBatchSampler(*arguments)


class Ramps(Dataset):
    def __init__(self, lengths: np.ndarray) -> None:
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        return torch.arange(1, int(self.lengths[index]) + 1, dtype=torch.float32), index % 2, index


def test_works_as_dataloader_batch_sampler_with_collate_padded() -> None:
    lengths = np.random.default_rng(1).integers(5, 60, size=40)
    batches = DurationBatchSampler(lengths, 120, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(Ramps(lengths), batch_sampler=batches, collate_fn=collate_padded)
    assert len(loader) == len(batches)
    seen = []
    for batch in loader:
        assert batch["inputs"].numel() <= 120
        assert torch.equal(batch["lengths"], torch.as_tensor(lengths[batch["index"].numpy()]))
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == list(range(40))
