"""The one interface every fine-tuning method implements, so one training loop serves them all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Batch:
    """What a method sees of a batch: the trainable part's inputs (waveforms or cached prefix
    features), their valid lengths, labels (0 fake / 1 real) and positions in the training set."""

    inputs: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor


class Method(ABC):
    """A loss over the detector's trainable suffix, plus hooks for methods that keep state."""

    name: str = "method"

    def setup(self, detector: nn.Module, train_size: int) -> None:
        """Called once before training (e.g. to freeze a copy as the reference policy)."""

    @abstractmethod
    def loss(self, detector: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The scalar to minimise and per-step statistics for the training log."""

    def after_step(self, detector: nn.Module, step: int, batch: Batch) -> dict[str, float]:
        """Called after every optimiser step with the batch just used (e.g. to refresh an old policy,
        or to compare predictions before and after the update); returns statistics for the log."""
        return {}

    def after_epoch(self, detector: nn.Module, epoch: int) -> dict[str, float]:
        """Called after every epoch; returns statistics for the log."""
        return {}


class CrossEntropy(Method):
    """Supervised cross-entropy on the two classes (index 0 fake, 1 real).

    Post-training uses it as it is; the `sft` method (methods/sft.py) is its fine-tuning form, kept
    in its own module so that editing SFT reruns SFT jobs only, not post-training."""

    name = "cross_entropy"

    def loss(self, detector: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = detector.suffix(batch.inputs, batch.lengths).logits
        loss = F.cross_entropy(logits, batch.labels)
        accuracy = (logits.argmax(dim=1) == batch.labels).float().mean()
        return loss, {"loss": float(loss.detach()), "accuracy": float(accuracy)}
