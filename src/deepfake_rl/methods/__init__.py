"""Fine-tuning methods behind one interface; `build_method` maps a config entry to an instance."""

from __future__ import annotations

from typing import Any

from deepfake_rl.methods.base import Batch, Method
from deepfake_rl.methods.grpo import GRPO
from deepfake_rl.methods.sft import SFT

__all__ = ["Batch", "Method", "build_method", "LOSS_KINDS"]

LOSS_KINDS: dict[str, type[Method]] = {"sft": SFT, "grpo": GRPO}


def build_method(loss: str, params: dict[str, Any] | None = None) -> Method:
    """An instance of the method family `loss` with its hyper-parameters."""
    if loss not in LOSS_KINDS:
        raise ValueError(f"unknown loss {loss!r}; known: {sorted(LOSS_KINDS)}")
    return LOSS_KINDS[loss](**(params or {}))
