"""Model specifications: the wav2vec2-family front ends, described by plain config mappings.

The paper fine-tunes XLS-R-2B, MMS-1B and MMS-300M (all wav2vec2 with stable layer norm, i.e.
pre-LN transformer layers and a layer-normalised conv feature encoder). No hub is reachable here,
so the embedded default builds CPU-sized stand-ins of decreasing size from these specs and
pre-trains them itself. Real runs would use the full-size numbers with the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from typing import Any

from transformers import Wav2Vec2Config

WAV2VEC2_CONV_KERNEL: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
WAV2VEC2_CONV_STRIDE: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)

# Three CPU-sized stand-ins of DIFFERENT sizes, largest to smallest, like the paper's models.
# Plain dicts (lists, not tuples) so they can be copied verbatim into config/config.yaml.
# The conv stack keeps wav2vec2's kernels and strides (20 ms frames, 400-sample receptive field)
# and only narrows the channels; the quantiser is shrunk to match the tiny hidden sizes.
DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "xlsr_2b": {
        "label": "XLS-R-2B",
        "stands_for": "facebook/wav2vec2-xls-r-2b (48 layers, hidden 1920); CPU stand-in",
        "hidden_size": 128, "num_layers": 4, "num_heads": 4, "intermediate_size": 512,
        "conv_dim": [64, 64, 64, 64, 64, 64, 64],
        "num_conv_pos_embeddings": 64, "num_conv_pos_embedding_groups": 16,
        "num_codevector_groups": 2, "num_codevectors_per_group": 64,
        "codevector_dim": 64, "proj_codevector_dim": 64,
    },
    "mms_1b": {
        "label": "MMS-1B",
        "stands_for": "facebook/mms-1b (48 layers, hidden 1280); CPU stand-in",
        "hidden_size": 96, "num_layers": 3, "num_heads": 3, "intermediate_size": 384,
        "conv_dim": [48, 48, 48, 48, 48, 48, 48],
        "num_conv_pos_embeddings": 64, "num_conv_pos_embedding_groups": 16,
        "num_codevector_groups": 2, "num_codevectors_per_group": 48,
        "codevector_dim": 48, "proj_codevector_dim": 48,
    },
    "mms_300m": {
        "label": "MMS-300M",
        "stands_for": "facebook/mms-300m (24 layers, hidden 1024); CPU stand-in",
        "hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 256,
        "conv_dim": [32, 32, 32, 32, 32, 32, 32],
        "num_conv_pos_embeddings": 64, "num_conv_pos_embedding_groups": 16,
        "num_codevector_groups": 2, "num_codevectors_per_group": 32,
        "codevector_dim": 32, "proj_codevector_dim": 32,
    },
}

# Fields that decide the front end's weights and what they compute: a pre-trained front end can
# only be loaded into a detector whose spec agrees on all of them.
ARCHITECTURE_FIELDS: tuple[str, ...] = (
    "hidden_size", "num_layers", "num_heads", "intermediate_size", "conv_dim", "conv_kernel",
    "conv_stride", "conv_bias", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups",
)


@dataclass(frozen=True)
class ModelSpec:
    """One SSL front end: architecture, pre-training quantiser and dropout settings."""

    key: str
    label: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    conv_dim: tuple[int, ...]
    conv_kernel: tuple[int, ...] = WAV2VEC2_CONV_KERNEL
    conv_stride: tuple[int, ...] = WAV2VEC2_CONV_STRIDE
    conv_bias: bool = True
    num_conv_pos_embeddings: int = 64
    num_conv_pos_embedding_groups: int = 16
    stands_for: str = ""
    # Pre-training (wav2vec2 contrastive task): quantiser, masking and negatives.
    num_codevector_groups: int = 2
    num_codevectors_per_group: int = 64
    codevector_dim: int = 64
    proj_codevector_dim: int = 64
    num_negatives: int = 20
    mask_time_prob: float = 0.65
    mask_time_length: int = 10
    diversity_loss_weight: float = 0.1
    # Regularisation during training (no effect in eval mode).
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    feat_proj_dropout: float = 0.0
    layerdrop: float = 0.0

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError(f"model {self.key!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        """Constraints transformers would otherwise report deep inside a constructor."""
        problems = []
        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) > 0:
            problems.append("conv_dim, conv_kernel and conv_stride must have the same (non-zero) length")
        if self.hidden_size % self.num_heads:
            problems.append(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            problems.append(f"hidden_size {self.hidden_size} is not divisible by "
                            f"num_conv_pos_embedding_groups {self.num_conv_pos_embedding_groups}")
        if self.codevector_dim % self.num_codevector_groups:
            problems.append(f"codevector_dim {self.codevector_dim} is not divisible by "
                            f"num_codevector_groups {self.num_codevector_groups}")
        return problems

    @classmethod
    def from_config(cls, key: str, cfg: Mapping[str, Any]) -> ModelSpec:
        """Build from a config mapping (e.g. `config["models"][key]`); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)} - {"key"}
        unknown = sorted(set(cfg) - names)
        if unknown:
            raise ValueError(f"model {key!r}: unknown keys {unknown}; allowed: {sorted(names)}")
        values = {name: tuple(value) if isinstance(value, list) else value for name, value in cfg.items()}
        values.setdefault("label", key)
        try:
            return cls(key=key, **values)
        except TypeError as error:  # a required field is missing
            raise ValueError(f"model {key!r}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping; `from_config(d.pop('key'), d)` rebuilds the same spec."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}

    def architecture(self) -> dict[str, Any]:
        """The fields that must agree for front-end weights to be interchangeable."""
        return {name: getattr(self, name) for name in ARCHITECTURE_FIELDS}

    @property
    def receptive_field(self) -> int:
        """Samples seen by one output frame of the conv feature encoder (400 for wav2vec2)."""
        field, jump = 1, 1
        for kernel, stride in zip(self.conv_kernel, self.conv_stride):
            field += (kernel - 1) * jump
            jump *= stride
        return field

    @property
    def frame_hop(self) -> int:
        """Samples between consecutive frames (320 = 20 ms at 16 kHz for wav2vec2)."""
        return prod(self.conv_stride)

    def to_wav2vec2_config(self) -> Wav2Vec2Config:
        """The transformers config: XLS-R/MMS layout (stable layer norm, layer-normalised convs)."""
        return Wav2Vec2Config(
            hidden_size=self.hidden_size, num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads, intermediate_size=self.intermediate_size,
            conv_dim=list(self.conv_dim), conv_kernel=list(self.conv_kernel),
            conv_stride=list(self.conv_stride), conv_bias=self.conv_bias,
            feat_extract_norm="layer", do_stable_layer_norm=True, feat_extract_activation="gelu",
            num_conv_pos_embeddings=self.num_conv_pos_embeddings,
            num_conv_pos_embedding_groups=self.num_conv_pos_embedding_groups,
            num_codevector_groups=self.num_codevector_groups,
            num_codevectors_per_group=self.num_codevectors_per_group,
            codevector_dim=self.codevector_dim, proj_codevector_dim=self.proj_codevector_dim,
            num_negatives=self.num_negatives, diversity_loss_weight=self.diversity_loss_weight,
            # mask_time_prob > 0 also makes transformers create `masked_spec_embed`, which
            # pre-training needs; the detector never applies SpecAugment itself.
            mask_time_prob=self.mask_time_prob, mask_time_length=self.mask_time_length,
            hidden_dropout=self.hidden_dropout, attention_dropout=self.attention_dropout,
            activation_dropout=self.activation_dropout, feat_proj_dropout=self.feat_proj_dropout,
            feat_quantizer_dropout=0.0, final_dropout=0.0, layerdrop=self.layerdrop,
        )


def default_specs() -> dict[str, ModelSpec]:
    """The three stand-ins as specs (for tests and for configs that omit `models`)."""
    return {key: ModelSpec.from_config(key, cfg) for key, cfg in DEFAULT_MODELS.items()}
