"""Self-supervised wav2vec2 pre-training of a front end (the embedded default's stand-in for the
public XLS-R/MMS checkpoints, which cannot be downloaded here).

Uses transformers' `Wav2Vec2ForPreTraining` (contrastive loss against Gumbel-quantised targets plus
the codebook diversity loss), with its own mask and negative samplers. Pre-training sees REAL
speech only, as XLS-R and MMS did: the caller passes a store of real clips, and any fake clip
in the store is skipped here all the same, so no spoofing artefact leaks into the "pre-trained
only" rows of the table. Nothing is written to disk: the caller saves
`pretrained_frontend_state(model)` with `checkpoint.save_frontend`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import Wav2Vec2ForPreTraining
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

from deepfake_rl.data.audio_io import SAMPLE_RATE
from deepfake_rl.data.dataset import WaveformDataset, collate_padded
from deepfake_rl.models.detector import normalise_waveform, valid_mask
from deepfake_rl.models.spec import ModelSpec

MIN_CLIP_SECONDS = 0.5  # shorter clips have too few frames for a mask span of 10 frames
LOSS_WINDOW = 5  # reported losses are means over this many first / last steps (single steps are noisy)
GUMBEL_TEMPERATURE = (2.0, 0.5)  # annealed geometrically from the first to the second over the run
WARMUP_FRACTION = 0.1


def build_pretraining_model(spec: ModelSpec, seed: int) -> Wav2Vec2ForPreTraining:
    """A freshly initialised wav2vec2 model with quantiser and projection heads, seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Wav2Vec2ForPreTraining(spec.to_wav2vec2_config())


def pretrained_frontend_state(model: Wav2Vec2ForPreTraining) -> dict[str, torch.Tensor]:
    """The Wav2Vec2Model weights (detached copies), keyed like `Detector.frontend.state_dict()`."""
    return {name: tensor.detach().clone() for name, tensor in model.wav2vec2.state_dict().items()}


@contextlib.contextmanager
def _seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global generators for the block, then restore them.

    transformers' mask and negative samplers draw from `np.random` and Gumbel/dropout from torch's
    global generator, so this is the only way to make pre-training reproducible for a seed."""
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def _real_indices(dataset: WaveformDataset, min_samples: int) -> np.ndarray:
    """Indices of the real clips long enough to train on; an error if there are none."""
    indices = np.flatnonzero((dataset.labels == 1) & (dataset.lengths() >= min_samples))
    if len(indices) == 0:
        raise ValueError(f"{dataset.path}: no real clip of at least {MIN_CLIP_SECONDS} s to pre-train on")
    return indices


def _sample_batch(dataset: WaveformDataset, indices: np.ndarray, batch_size: int, crop_samples: int,
                  rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Random clips, each randomly cropped to at most `crop_samples`, zero-padded together."""
    chosen = rng.choice(indices, size=batch_size, replace=len(indices) < batch_size)
    items = []
    for index in chosen:
        wave, label, _ = dataset[int(index)]
        offset = int(rng.integers(0, max(len(wave) - crop_samples, 0) + 1))
        items.append((wave[offset:offset + crop_samples], label, int(index)))
    return collate_padded(items)


def _masks(model: Wav2Vec2ForPreTraining, lengths: torch.Tensor, num_samples: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample-level attention mask, masked time steps and negative indices (transformers' samplers);
    negatives come from the valid frames of the same utterance."""
    config = model.config
    attention_mask = valid_mask(lengths, num_samples).long()
    num_frames = int(model._get_feat_extract_output_lengths(num_samples))
    frame_mask = model._get_feature_vector_attention_mask(num_frames, attention_mask)
    masked = _compute_mask_indices((len(lengths), num_frames), mask_prob=config.mask_time_prob,
                                   mask_length=config.mask_time_length, attention_mask=frame_mask,
                                   min_masks=2)
    negatives = _sample_negative_indices((len(lengths), num_frames), config.num_negatives,
                                         mask_time_indices=frame_mask.numpy())
    return attention_mask, torch.from_numpy(masked), torch.from_numpy(negatives).long()


def _lr_factor(step: int, steps: int) -> float:
    """Linear warm-up then linear decay (the wav2vec2 recipe, shortened)."""
    warmup = max(1, int(WARMUP_FRACTION * steps))
    return (step + 1) / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))


def _train_step(model: Wav2Vec2ForPreTraining, optimiser: torch.optim.Optimizer,
                batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """One update; losses are per masked frame (transformers returns sums)."""
    inputs = normalise_waveform(batch["inputs"], batch["lengths"])
    attention_mask, masked, negatives = _masks(model, batch["lengths"], inputs.shape[1])
    output = model(inputs, attention_mask=attention_mask, mask_time_indices=masked,
                   sampled_negative_indices=negatives)
    count = masked.sum().clamp(min=1)
    optimiser.zero_grad(set_to_none=True)
    (output.loss / count).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    optimiser.step()
    values = {"loss": output.loss / count, "contrastive_loss": output.contrastive_loss / count,
              "diversity_loss": output.diversity_loss / count,
              "codevector_perplexity": output.codevector_perplexity}
    return {name: value.item() for name, value in values.items()}


def _summary(history: list[dict[str, float]], seconds: float) -> dict[str, float]:
    """Final losses (mean of the last LOSS_WINDOW steps) and the initial contrastive loss."""
    window = min(LOSS_WINDOW, len(history))
    summary = {name: float(np.mean([h[name] for h in history[-window:]])) for name in history[-1]}
    summary["initial_contrastive_loss"] = float(np.mean([h["contrastive_loss"] for h in history[:window]]))
    summary.update(steps=float(len(history)), seconds=seconds, steps_per_second=len(history) / seconds)
    return summary


def _check_arguments(spec: ModelSpec, model: Wav2Vec2ForPreTraining | None, steps: int,
                     crop_seconds: float) -> None:
    """Fail early, with the offending value, instead of deep inside transformers' samplers."""
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    if crop_seconds < MIN_CLIP_SECONDS:
        raise ValueError(f"crop_seconds must be at least {MIN_CLIP_SECONDS}, got {crop_seconds}")
    if model is not None and (model.config.hidden_size, model.config.num_hidden_layers) != (
            spec.hidden_size, spec.num_layers):
        raise ValueError(f"model does not match spec {spec.key!r} (hidden size / layers differ)")


def pretrain_frontend(spec: ModelSpec, dataset: WaveformDataset, *, steps: int, batch_size: int, lr: float,
                      crop_seconds: float, seed: int, progress: bool = True,
                      model: Wav2Vec2ForPreTraining | None = None, weight_decay: float = 0.01
                      ) -> dict[str, float]:
    """Pre-train `model` in place (built from spec and seed when None) on the real clips of `dataset`.

    Deterministic for a seed (clip choice, crops, masks, negatives, Gumbel noise, dropout); pass a
    dataset without random cropping (cropping to `crop_seconds` happens here, seeded).
    Returns the final losses (means over the last 5 steps), `initial_contrastive_loss` (first 5
    steps), the codebook perplexity and the speed. Typical use:
        model = build_pretraining_model(spec, seed)
        losses = pretrain_frontend(spec, store, steps=..., ..., model=model)
        save_frontend(pretrained_frontend_state(model), path, spec, metadata=losses)
    """
    _check_arguments(spec, model, steps, crop_seconds)
    model = build_pretraining_model(spec, seed) if model is None else model
    indices = _real_indices(dataset, int(MIN_CLIP_SECONDS * SAMPLE_RATE))
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98),
                                  eps=1e-6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: _lr_factor(step, steps))
    start_temperature, end_temperature = GUMBEL_TEMPERATURE
    history: list[dict[str, float]] = []
    model.train()
    started = time.perf_counter()
    with _seeded_global_rngs(seed), tqdm(range(steps), desc=f"pretrain {spec.key}", disable=not progress) as bar:
        for step in bar:
            fraction = step / max(1, steps - 1)
            model.set_gumbel_temperature(start_temperature * (end_temperature / start_temperature) ** fraction)
            batch = _sample_batch(dataset, indices, batch_size, int(crop_seconds * SAMPLE_RATE), rng)
            history.append(_train_step(model, optimiser, batch))
            scheduler.step()
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
    model.eval()
    return _summary(history, time.perf_counter() - started)
