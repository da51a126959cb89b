"""Supervised fine-tuning: cross-entropy on the two classes (index 0 fake, 1 real)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deepfake_rl.methods.base import Batch, Method


class SFT(Method):
    """Plain cross-entropy, the paper's baseline."""

    name = "sft"

    def loss(self, detector: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        logits = detector.suffix(batch.inputs, batch.lengths).logits
        loss = F.cross_entropy(logits, batch.labels)
        accuracy = (logits.argmax(dim=1) == batch.labels).float().mean()
        return loss, {"loss": float(loss.detach()), "accuracy": float(accuracy)}
