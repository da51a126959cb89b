"""Scoring a detector on a dataset: per-utterance logits and the pooled last-layer embeddings.

Utterances are batched by similar length, so padding (and wasted compute) stays small; results are
returned in dataset order. Attention costs (batch size) x (longest length)^2, so one long clip in a
batch of short ones multiplies the batch's cost: `max_padded` bounds (batch size) x (longest length),
which puts long clips in small batches (a 110 s clip padded with 15 others cost 11 s of a 44 s scoring
pass on the embedded default; bounded, the pass took 23 s). Padding is masked, so outputs do not depend
on the batching beyond float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from deepfake_rl.data.batching import fill_batches
from deepfake_rl.data.dataset import collate_padded


@dataclass
class Scores:
    """Per-utterance outputs in dataset order."""

    logits: np.ndarray        # [N, 2], index 0 fake / 1 real
    embeddings: np.ndarray    # [N, D] mean-pooled last layer
    labels: np.ndarray        # [N] 0 fake / 1 real

    @property
    def score(self) -> np.ndarray:
        """The paper's score: the logit of the REAL class (higher = more real)."""
        return self.logits[:, 1]

    @property
    def p_real(self) -> np.ndarray:
        shifted = self.logits - self.logits.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted)
        return probabilities[:, 1] / probabilities.sum(axis=1)

    def table(self, ids: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"ID": ids, "label": self.labels, "score": self.score, "p_real": self.p_real,
                             "logit_fake": self.logits[:, 0], "logit_real": self.logits[:, 1]})


def length_batches(lengths: np.ndarray, batch_size: int, max_padded: int | None = None) -> list[np.ndarray]:
    """Indices grouped by similar length: sorted, then batches of at most `batch_size` items whose padded
    size (items x longest length, in the unit of `lengths`) is at most `max_padded` (None: no bound; an
    item longer than it is scored alone)."""
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    return [np.asarray(batch, dtype=np.int64) for batch in fill_batches(order, lengths, max_padded, batch_size)]


def model_inputs(detector: nn.Module, batch: dict[str, torch.Tensor], inputs_are_features: bool,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainable suffix's inputs: cached prefix features as they are, or the prefix of waveforms."""
    inputs = batch["inputs"].to(device, non_blocking=True)    # asynchronous from pinned memory
    lengths = batch["lengths"].to(device)
    if inputs_are_features:
        return inputs, lengths
    return detector.prefix(inputs, lengths)


def score_dataset(detector: nn.Module, dataset: Dataset, *, inputs_are_features: bool, batch_size: int = 16,
                  device: str | torch.device = "cpu", progress: bool = True, desc: str = "score",
                  max_padded: int | None = None) -> Scores:
    """Logits and pooled embeddings for every item, in dataset order (eval mode, no gradients);
    `max_padded` bounds each batch's padded size (see `length_batches`)."""
    return score_with_each([detector], dataset, inputs_are_features=inputs_are_features, batch_size=batch_size,
                           device=device, progress=progress, desc=desc, max_padded=max_padded)[0]


@torch.no_grad()
def score_with_each(detectors: Sequence[nn.Module], dataset: Dataset, *, inputs_are_features: bool,
                    batch_size: int = 16, device: str | torch.device = "cpu", progress: bool = True,
                    desc: str = "score", max_padded: int | None = None) -> list[Scores]:
    """`score_dataset` for several detectors of one model (the seeds of a run) in one pass over the data:
    each batch is read and padded once and given to every detector, so a cached test set is read once
    per job, not once per seed. Each detector sees the same batches as when scored alone."""
    device = torch.device(device)
    was_training = [detector.training for detector in detectors]
    for detector in detectors:
        detector.eval()
    batches = length_batches(np.asarray(dataset.lengths()), batch_size, max_padded)
    logits: list[list[np.ndarray]] = [[] for _ in detectors]
    pooled: list[list[np.ndarray]] = [[] for _ in detectors]
    order: list[np.ndarray] = []
    for indices in tqdm(batches, desc=desc, unit="batch", disable=not progress):
        batch = collate_padded([dataset[int(i)] for i in indices])
        for number, detector in enumerate(detectors):
            output = detector.suffix(*model_inputs(detector, batch, inputs_are_features, device))
            logits[number].append(output.logits.float().cpu().numpy())
            pooled[number].append(output.pooled.float().cpu().numpy())
        order.append(batch["index"].numpy())
    for detector, training in zip(detectors, was_training):
        detector.train(training)
    position = np.argsort(np.concatenate(order))
    labels = np.asarray(dataset.labels)
    return [Scores(np.concatenate(own_logits)[position], np.concatenate(own_pooled)[position], labels)
            for own_logits, own_pooled in zip(logits, pooled)]
