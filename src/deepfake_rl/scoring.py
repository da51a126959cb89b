"""Scoring a detector on a dataset: per-utterance logits and the pooled last-layer embeddings.

Utterances are batched by similar length, so padding (and wasted compute) stays small; results are
returned in dataset order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

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


def length_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Indices grouped by similar length (sorted, then cut into batches)."""
    order = np.argsort(lengths, kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def model_inputs(detector: nn.Module, batch: dict[str, torch.Tensor], inputs_are_features: bool,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The trainable suffix's inputs: cached prefix features as they are, or the prefix of waveforms."""
    inputs = batch["inputs"].to(device, non_blocking=True)    # asynchronous from pinned memory
    lengths = batch["lengths"].to(device)
    if inputs_are_features:
        return inputs, lengths
    return detector.prefix(inputs, lengths)


@torch.no_grad()
def score_dataset(detector: nn.Module, dataset: Dataset, *, inputs_are_features: bool, batch_size: int = 16,
                  device: str | torch.device = "cpu", progress: bool = True, desc: str = "score") -> Scores:
    """Logits and pooled embeddings for every item, in dataset order (eval mode, no gradients)."""
    device = torch.device(device)
    was_training = detector.training
    detector.eval()
    batches = length_batches(np.asarray(dataset.lengths()), batch_size)
    logits: list[np.ndarray] = []
    pooled: list[np.ndarray] = []
    order: list[np.ndarray] = []
    for indices in tqdm(batches, desc=desc, unit="batch", disable=not progress):
        batch = collate_padded([dataset[int(i)] for i in indices])
        output = detector.suffix(*model_inputs(detector, batch, inputs_are_features, device))
        logits.append(output.logits.float().cpu().numpy())
        pooled.append(output.pooled.float().cpu().numpy())
        order.append(batch["index"].numpy())
    detector.train(was_training)
    position = np.argsort(np.concatenate(order))
    return Scores(np.concatenate(logits)[position], np.concatenate(pooled)[position], np.asarray(dataset.labels))
