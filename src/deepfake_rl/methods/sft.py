"""SFT, the paper's baseline fine-tuning: cross-entropy on the two classes (index 0 fake, 1 real)."""

from __future__ import annotations

from deepfake_rl.methods.base import CrossEntropy


class SFT(CrossEntropy):
    """Plain cross-entropy fine-tuning (rows "SFT" of Table 1)."""

    name = "sft"
