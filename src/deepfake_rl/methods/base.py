"""The one interface every fine-tuning method implements, so one training loop serves them all."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Batch:
    """What a method sees of a batch: the trainable part's inputs (waveforms or cached prefix
    features), their valid lengths, labels (0 fake / 1 real) and positions in the training set.

    `repeatable` ([B] bool, or None when unknown): the item's input is the same at every visit (not
    cropped at a random offset, not augmented), so a frozen model's outputs on it may be cached."""

    inputs: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    repeatable: torch.Tensor | None = None


LN2 = math.log(2.0)      # the loss of a sample predicted at chance: where every loss EMA starts
HARD_LOSS = 0.7          # TSRL Fig. 1: a sample is "hard" while its EMA loss is above this


FORGETTING_EVENTS = ("wrong_to_right", "right_to_wrong")


class SampleHistory:
    """EMA of each training sample's loss, its forgetting count and its correctness at the last
    visit, indexed by position in the training set: TSRL's state manager, and the hard-sample
    statistic every cross-entropy method logs per epoch (TSRL Fig. 1, SFT vs TSRL).

    `forgetting` names the transition counted between two visits: wrong_to_right (TSRL's "forgetting
    event", section 3.2: correct after having failed at the previous visit; the authors'
    state_manager.py) or right_to_wrong (Toneva et al.'s forgetting). The last correctness starts at
    the transition's end state, so the first visit is never counted."""

    def __init__(self, size: int, alpha: float = 0.1, device: torch.device | str = "cpu",
                 forgetting: str = "wrong_to_right") -> None:
        if forgetting not in FORGETTING_EVENTS:
            raise ValueError(f"forgetting {forgetting!r}: expected one of {FORGETTING_EVENTS}")
        self.alpha = alpha
        self.counts_relearning = forgetting == "wrong_to_right"
        self.ema_loss = torch.full((size,), LN2, device=device)
        self.forgetting = torch.zeros(size, dtype=torch.long, device=device)
        self.last_correct = torch.full((size,), self.counts_relearning, dtype=torch.bool, device=device)

    def update(self, indices: torch.Tensor, losses: torch.Tensor, correct: torch.Tensor) -> None:
        """One visit: EMA step, +1 forgetting where the correctness made the counted transition."""
        indices = indices.to(self.ema_loss.device)
        losses, correct = losses.detach().to(self.ema_loss), correct.to(self.last_correct.device)
        self.ema_loss[indices] = (1.0 - self.alpha) * self.ema_loss[indices] + self.alpha * losses
        event_end = correct if self.counts_relearning else ~correct
        self.forgetting[indices] += (event_end & (self.last_correct[indices] != correct)).long()
        self.last_correct[indices] = correct

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"ema_loss": self.ema_loss, "forgetting": self.forgetting, "last_correct": self.last_correct}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in state.items():
            getattr(self, name).copy_(tensor)


def hard_fraction(ema_loss: torch.Tensor, threshold: float = HARD_LOSS) -> float:
    """Fraction of samples whose EMA loss exceeds `threshold` (TSRL Fig. 1's hard samples)."""
    return float((ema_loss > threshold).float().mean()) if ema_loss.numel() else 0.0


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, epsilon: float | None) -> torch.Tensor:
    """PPO's min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) (to be maximised); no clipping when
    epsilon is None. Shared by GRPO's policy term and TSRL's tutor update."""
    unclipped = ratio * advantages
    if epsilon is None:
        return unclipped
    return torch.minimum(unclipped, ratio.clamp(1.0 - epsilon, 1.0 + epsilon) * advantages)


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

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs of the state the method keeps between steps: tensors, numbers,
        strings, lists and dicts only (saved and read back without unpickling). None by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any], detector: nn.Module) -> None:
        """Restore what state_dict() returned; called after setup() with the detector being trained."""


class CrossEntropy(Method):
    """Supervised cross-entropy on the two classes (index 0 fake, 1 real).

    Post-training uses it as it is; the `sft` method (methods/sft.py) is its fine-tuning form, kept
    in its own module so that editing SFT reruns SFT jobs only, not post-training. Each sample's
    training loss feeds a SampleHistory (indexing only, no extra forward pass), so the log's epoch
    rows carry the hard-sample fraction that TSRL's Fig. 1 compares."""

    name = "cross_entropy"

    def __init__(self) -> None:
        self.history: SampleHistory | None = None

    def setup(self, detector: nn.Module, train_size: int) -> None:
        self.history = SampleHistory(train_size, device=next(detector.parameters()).device)

    def loss(self, detector: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = detector.suffix(batch.inputs, batch.lengths).logits
        per_sample = F.cross_entropy(logits, batch.labels, reduction="none")
        loss = per_sample.mean()
        correct = logits.argmax(dim=1) == batch.labels
        if self.history is not None:
            self.history.update(batch.indices, per_sample, correct)
        return loss, {"loss": float(loss.detach()), "accuracy": float(correct.float().mean())}

    def after_epoch(self, detector: nn.Module, epoch: int) -> dict[str, float]:
        return {} if self.history is None else {"hard_fraction": hard_fraction(self.history.ema_loss)}

    def state_dict(self) -> dict[str, Any]:
        return {} if self.history is None else {"history": self.history.state_dict()}

    def load_state_dict(self, state: dict[str, Any], detector: nn.Module) -> None:
        if "history" in state:
            self.history.load_state_dict(state["history"])
