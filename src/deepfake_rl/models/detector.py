"""The deepfake detector: SSL front end, mean pooling of the last layer, Linear(D, 2).

Conventions (paper section 2, AntiDeepfake code): output index 0 = fake, 1 = real. The detection score
is the logit of the real class, logits[:, 1] (paper section 3.1; scoring.Scores.score); softmax P(real)
(`real_probability`), the score of the authors' evaluation.py, is kept beside it and ranks trials
differently when logits[:, 0] + logits[:, 1] varies. The input waveform is layer-normalised per utterance.

The model is split at the freeze boundary into `prefix` (frozen, run without gradients) and
`suffix` (trained), so that the frozen part can be computed once and cached
(`feature_cache.py`) and training on cached features gives the same result as on waveforms.
The forward pass reuses transformers' own sub-modules and mirrors
`Wav2Vec2Model.forward` + `Wav2Vec2EncoderStableLayerNorm.forward` (transformers 5.x): the frame
mask from `_get_feat_extract_output_lengths`, padded frames zeroed before the positional conv,
a bidirectional attention mask from `create_bidirectional_mask`, a final layer norm.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from dataclasses import dataclass

import torch
from torch import nn
from transformers import Wav2Vec2Model
from transformers.masking_utils import create_bidirectional_mask

from deepfake_rl.models.spec import ModelSpec

FAKE, REAL = 0, 1
FREEZE_HELP = ("'none', 'cnn' or 'layers:N' (N = number of frozen transformer layers; "
               "negative N = all but the last |N|)")


@dataclass(frozen=True)
class FreezeMode:
    """What is frozen: nothing, the conv feature encoder, or everything up to transformer layer N."""

    kind: str  # "none" | "cnn" | "layers"
    layers: int = 0

    @classmethod
    def parse(cls, text: str, num_layers: int) -> FreezeMode:
        """Parse 'none' | 'cnn' | 'layers:N' with -num_layers <= N <= num_layers; a negative N keeps
        the last |N| layers trainable, so one config value fits models of different depths."""
        if text in ("none", "cnn"):
            return cls(text)
        name, _, count = text.partition(":")
        if name == "layers" and re.fullmatch(r"-?\d+", count) and abs(int(count)) <= num_layers:
            frozen = int(count)
            return cls("layers", frozen if frozen >= 0 else num_layers + frozen)
        raise ValueError(f"freeze {text!r}: expected {FREEZE_HELP} with |N| <= {num_layers}")

    def __str__(self) -> str:
        return f"layers:{self.layers}" if self.kind == "layers" else self.kind


@dataclass
class DetectorOutput:
    """Class logits [B, 2] (0 fake, 1 real) and the pooled last-layer embedding [B, D] (for drift)."""

    logits: torch.Tensor
    pooled: torch.Tensor


def valid_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Boolean [B, size]: True where a position is inside its sequence."""
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


def normalise_waveform(waveform: torch.Tensor, lengths: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance layer norm over the valid samples only (padding would bias mean and variance);
    padding is set to zero. Equals `F.layer_norm(x, x.shape)` for an unpadded utterance."""
    mask = valid_mask(lengths, waveform.shape[1]).to(waveform.dtype)
    count = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (waveform * mask).sum(dim=1, keepdim=True) / count
    centred = (waveform - mean) * mask
    variance = centred.square().sum(dim=1, keepdim=True) / count
    return centred / torch.sqrt(variance + eps)


def masked_mean(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames of [B, F, D] -> [B, D]."""
    mask = valid_mask(lengths, hidden.shape[1]).to(hidden.dtype)[..., None]
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def build_frontend(spec: ModelSpec, seed: int) -> Wav2Vec2Model:
    """A randomly initialised front end, reproducible for a seed without touching global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Wav2Vec2Model(spec.to_wav2vec2_config())


class Detector(nn.Module):
    """Wav2Vec2Model front end + mean pooling over valid frames of the last layer + Linear(D, 2).

    Frozen modules get requires_grad False and stay in eval mode even when the detector is put in
    training mode: the frozen prefix is then a deterministic function of the waveform, which is what
    makes the feature cache exactly equivalent to running the prefix on the fly.
    SpecAugment is not applied (the front end's `masked_spec_embed` is only used in pre-training,
    so it is frozen too).
    """

    def __init__(self, spec: ModelSpec, freeze: str = "none", seed: int = 0) -> None:
        super().__init__()
        self.spec = spec
        self.freeze_mode = FreezeMode.parse(freeze, spec.num_layers)
        self.frontend = build_frontend(spec, seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.head = nn.Linear(spec.hidden_size, 2)
        self.source_checkpoint = "none (randomly initialised)"
        self._apply_freeze()

    @property
    def freeze(self) -> str:
        return str(self.freeze_mode)

    def frozen_modules(self) -> list[nn.Module]:
        """The front-end sub-modules that `prefix` runs."""
        encoder = self.frontend.encoder
        if self.freeze_mode.kind == "none":
            return []
        if self.freeze_mode.kind == "cnn":
            return [self.frontend.feature_extractor]
        return [self.frontend.feature_extractor, self.frontend.feature_projection, encoder.pos_conv_embed,
                encoder.dropout, *encoder.layers[: self.freeze_mode.layers]]

    def _apply_freeze(self) -> None:
        if hasattr(self.frontend, "masked_spec_embed"):
            self.frontend.masked_spec_embed.requires_grad_(False)
        for module in self.frozen_modules():
            module.requires_grad_(False)
        if self.freeze_mode.kind != "none":
            self.frontend.feature_extractor._freeze_parameters()  # also stops its input-grad trick
        self.train(self.training)

    def train(self, mode: bool = True) -> Detector:
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser should update."""
        return [p for p in self.parameters() if p.requires_grad]

    # --- the two halves ---------------------------------------------------------------------------

    def prefix(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen part, without gradients: waveform [B, T] -> (hidden, frame lengths).

        Returns the normalised waveform and sample lengths for freeze 'none', conv features
        [B, F, C_conv] for 'cnn', transformer states [B, F, D] after N layers for 'layers:N'.
        Clips shorter than the conv receptive field (400 samples) would have no output frame: they
        are zero-padded to it here (after normalisation), alone or in a batch alike.
        """
        wave, lengths = self._prepare(waveform, lengths)
        if self.freeze_mode.kind == "none":
            return wave, lengths
        with torch.no_grad():
            features, frames = self._encode_waveform(wave, lengths)
            if self.freeze_mode.kind == "cnn":
                return features, frames
            hidden = self._project(features, frames)
            return self._transform(hidden, frames, range(self.freeze_mode.layers)), frames

    def suffix(self, hidden: torch.Tensor, frame_lengths: torch.Tensor) -> DetectorOutput:
        """The trainable part: whatever `prefix` returned (or its cached, re-padded copy) -> output."""
        start = self.freeze_mode.layers
        if self.freeze_mode.kind == "none":
            hidden, frame_lengths = self._encode_waveform(hidden, frame_lengths)
        if self.freeze_mode.kind in ("none", "cnn"):
            hidden = self._project(hidden, frame_lengths)
        hidden = self._transform(hidden, frame_lengths, range(start, self.spec.num_layers))
        return self._pool(hidden, frame_lengths)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> DetectorOutput:
        return self.suffix(*self.prefix(waveform, lengths))

    # --- stages (transformers sub-modules, in Wav2Vec2Model's order) ------------------------------

    def _prepare(self, waveform: torch.Tensor, lengths: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalise per utterance, then pad to at least the receptive field."""
        if lengths is None:
            lengths = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long)
        lengths = lengths.to(device=waveform.device, dtype=torch.long)
        wave = normalise_waveform(waveform, lengths)
        field = self.spec.receptive_field
        if wave.shape[1] < field:
            wave = nn.functional.pad(wave, (0, field - wave.shape[1]))
        return wave, lengths.clamp(min=field)

    def _encode_waveform(self, wave: torch.Tensor, lengths: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv feature encoder: [B, T] -> [B, F, C_conv] and the valid frame counts."""
        features = self.frontend.feature_extractor(wave).transpose(1, 2)
        frames = self.frontend._get_feat_extract_output_lengths(lengths).to(torch.long)
        return features, frames.clamp(max=features.shape[1])

    def _project(self, features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Feature projection, padded frames zeroed, positional conv embedding, dropout."""
        encoder = self.frontend.encoder
        hidden, _ = self.frontend.feature_projection(features)
        hidden = hidden.masked_fill(~valid_mask(frames, hidden.shape[1])[..., None], 0.0)
        hidden = hidden + encoder.pos_conv_embed(hidden)
        return encoder.dropout(hidden)

    def _transform(self, hidden: torch.Tensor, frames: torch.Tensor, indices: range) -> torch.Tensor:
        """Transformer layers `indices`, padded frames masked out as keys (LayerDrop when training)."""
        if len(indices) == 0:
            return hidden
        attention_mask = create_bidirectional_mask(
            config=self.frontend.config, inputs_embeds=hidden,
            attention_mask=valid_mask(frames, hidden.shape[1]))
        for index in indices:
            layer = self.frontend.encoder.layers[index]
            if layer.training and self.spec.layerdrop > 0 and torch.rand([]) < self.spec.layerdrop:
                continue
            hidden = layer(hidden, attention_mask=attention_mask)
        return hidden

    def _pool(self, hidden: torch.Tensor, frames: torch.Tensor) -> DetectorOutput:
        """Final encoder layer norm, mean over valid frames, linear head."""
        pooled = masked_mean(self.frontend.encoder.layer_norm(hidden), frames)
        return DetectorOutput(logits=self.head(pooled), pooled=pooled)


def real_probability(logits: torch.Tensor) -> torch.Tensor:
    """P(real) = softmax(logits)[:, REAL]: the authors' evaluation score (the paper's is the real logit)."""
    return torch.softmax(logits, dim=-1)[:, REAL]


@contextlib.contextmanager
def scoring_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) without gradients for the block, as scoring runs; the previous mode is
    restored afterwards (the feature cache, and TSRL scoring a batch before and after a step)."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)
