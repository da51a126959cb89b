"""Dynamic batches bounded by total (padded) duration, as AntiDeepfake's "<= 100 s of audio".

A fixed batch size either wastes the GPU on short clips or runs out of memory on long ones;
bounding the audio per batch keeps memory use flat. :class:`DurationBatchSampler` yields lists
of dataset indices for ``DataLoader(dataset, batch_sampler=..., collate_fn=collate_padded)``.

The cost of a batch is ``len(batch) * max(length in batch)``, not the sum of lengths: the
collate function pads every item to the longest, and the padded tensor (and every activation
computed from it) is what occupies memory. To keep padding small, each epoch shuffles the items,
cuts them into chunks of about ``chunk_batches`` batches' worth of audio, sorts each chunk by
length and fills batches greedily, then shuffles the order of the batches: items of similar
length share a batch, yet batch membership and order change from epoch to epoch.
"""

from __future__ import annotations

import warnings
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["DurationBatchSampler", "fill_batches", "padded_cost"]


def padded_cost(lengths: Sequence[int] | np.ndarray) -> int:
    """What a batch of these lengths costs once padded to the longest."""
    return len(lengths) * int(max(lengths, default=0))


def fill_batches(ascending: Sequence[int] | np.ndarray, lengths: np.ndarray, max_total: int | None,
                 max_items: int | None) -> list[list[int]]:
    """Greedy batches from indices sorted by length: the newest item is always the longest, so adding
    it costs (the new batch size) * its length. A batch closes when that would exceed `max_total` or
    hold more than `max_items` items (None: no bound); an item over `max_total` forms its own batch."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in np.asarray(ascending).tolist():
        size = len(current) + 1
        fits = max_total is None or size * int(lengths[index]) <= max_total
        if current and (not fits or (max_items is not None and size > max_items)):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class DurationBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices whose padded cost is at most ``max_total``.

    ``lengths`` are the effective per-item lengths in any unit (samples, frames), i.e. already
    capped by the training crop where one applies (by its max when crop lengths are drawn from a
    range: an upper bound, so no batch exceeds its plan); ``max_total`` is in the same unit (100 s at
    16 kHz = 1_600_000 samples). ``max_items`` optionally caps the batch size as well.

    Every item appears in exactly one batch per epoch. An item longer than ``max_total`` on its
    own is not dropped: it forms a batch by itself (over budget). :attr:`oversized` counts such
    items, and construction warns when there are any, since they may not fit in memory.

    With ``shuffle`` the batches are drawn from ``generator`` (a private one seeded from
    ``torch.initial_seed()`` when none is given), which each epoch advances; the same generator
    state gives the same batches. ``len()`` is exact: it plans the next epoch on a copy of the
    generator's state, and is what the next ``iter()`` yields (called mid-epoch, it already
    counts the next epoch).
    """

    def __init__(self, lengths: Sequence[int] | np.ndarray, max_total: int, *,
                 max_items: int | None = None, shuffle: bool = True,
                 generator: torch.Generator | None = None, chunk_batches: int = 100) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1 or np.any(self.lengths < 0):
            raise ValueError("lengths must be a flat sequence of non-negative integers")
        if max_total <= 0 or (max_items is not None and max_items < 1) or chunk_batches < 1:
            raise ValueError(f"need max_total > 0, max_items >= 1 and chunk_batches >= 1, got "
                             f"{max_total}, {max_items}, {chunk_batches}")
        self.max_total = int(max_total)
        self.max_items = max_items
        self.shuffle = shuffle
        self.generator = generator
        if shuffle and generator is None:
            self.generator = torch.Generator().manual_seed(torch.initial_seed())
        self.chunk_size = self._chunk_size(chunk_batches)
        self.oversized = int(np.sum(self.lengths > self.max_total))
        if self.oversized:
            warnings.warn(f"{self.oversized} item(s) are longer than max_total={self.max_total} and "
                          f"will each form a batch of their own", stacklevel=2)

    def _chunk_size(self, chunk_batches: int) -> int:
        """Items per sorting chunk: about `chunk_batches` full batches at the mean length."""
        mean = float(self.lengths.mean()) if len(self.lengths) else 1.0
        per_batch = max(1, int(self.max_total // max(mean, 1.0)))
        if self.max_items is not None:
            per_batch = min(per_batch, self.max_items)
        return chunk_batches * per_batch

    def _plan(self, generator: torch.Generator | None) -> list[list[int]]:
        """One epoch's batches; consumes random numbers from `generator` only when shuffling."""
        count = len(self.lengths)
        order = (torch.randperm(count, generator=generator).numpy() if self.shuffle
                 else np.arange(count))
        batches: list[list[int]] = []
        for start in range(0, count, self.chunk_size):
            chunk = order[start: start + self.chunk_size]
            batches.extend(fill_batches(chunk[np.argsort(self.lengths[chunk], kind="stable")], self.lengths,
                                        self.max_total, self.max_items))
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        # Planned eagerly, so the generator advances when the epoch starts, not at its first batch.
        return iter(self._plan(self.generator))

    def __len__(self) -> int:
        """Batches that the next ``iter()`` yields (planned on a copy of the generator, which a plan
        of a few thousand items costs milliseconds)."""
        copy = None if self.generator is None else torch.Generator().set_state(self.generator.get_state())
        return len(self._plan(copy))
