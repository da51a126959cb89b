"""Fine-tuning methods behind one interface; `build_method` maps a config entry to an instance."""

from __future__ import annotations

from typing import Any

from torch import nn

from deepfake_rl.methods.base import Batch, Method
from deepfake_rl.methods.grpo import GRPO
from deepfake_rl.methods.sft import SFT
from deepfake_rl.methods.tsrl import TSRL

__all__ = ["Batch", "Method", "build_method", "LOSS_KINDS"]

LOSS_KINDS: dict[str, type[Method]] = {"sft": SFT, "grpo": GRPO, "tsrl": TSRL}
USES_REFERENCE = ("grpo",)


def build_method(loss: str, params: dict[str, Any] | None = None, reference: nn.Module | None = None) -> Method:
    """An instance of the method family `loss` with its hyper-parameters (and a KL reference model
    for the families that regularise towards one)."""
    if loss not in LOSS_KINDS:
        raise ValueError(f"unknown loss {loss!r}; known: {sorted(LOSS_KINDS)}")
    if reference is None:
        return LOSS_KINDS[loss](**(params or {}))
    if loss not in USES_REFERENCE:
        raise ValueError(f"loss {loss!r} has no KL reference; `reference` applies to {sorted(USES_REFERENCE)}")
    return LOSS_KINDS[loss](reference=reference, **(params or {}))
