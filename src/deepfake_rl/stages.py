"""The model stages of the workflow as plain functions (testable without Snakemake): pre-training,
post-training, the frozen-prefix feature cache, fine-tuning, scoring and the Table 1 aggregation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from torch.utils.data import Dataset

from deepfake_rl.data.audio_io import SAMPLE_RATE
from deepfake_rl.data.dataset import WaveformDataset
from deepfake_rl.errors import require_file
from deepfake_rl.io_utils import atomic_path
from deepfake_rl.methods import build_method
from deepfake_rl.methods.base import CrossEntropy
from deepfake_rl.models.checkpoint import load_detector, load_frontend_into, save_detector, save_frontend
from deepfake_rl.models.detector import Detector
from deepfake_rl.models.feature_cache import FeatureDataset, write_feature_cache
from deepfake_rl.models.pretrain import build_pretraining_model, pretrain_frontend, pretrained_frontend_state
from deepfake_rl.models.spec import ModelSpec
from deepfake_rl.scoring import Scores, score_with_each
from deepfake_rl.train.loop import TrainSettings, train
from deepfake_rl.train.resume import resumable_job

if TYPE_CHECKING:
    from deepfake_rl.data.rawboost import RawBoostSettings

# keys of a method's config entry that are training-schedule settings, not loss hyper-parameters
SCHEDULE_KEYS = ("lr", "lr_schedule", "epochs", "max_steps", "valid_every", "batch_size", "weight_decay", "adam_eps",
                 "grad_clip")
NOT_LOSS_KEYS = ("loss", "init", "reference", *SCHEDULE_KEYS)


def frames_for(seconds: float | None, spec: ModelSpec, features: bool) -> int | None:
    """A duration as items along the inputs' time axis: frames for cached features, else samples."""
    if seconds is None:
        return None
    samples = int(round(seconds * SAMPLE_RATE))
    return max(1, samples // spec.frame_hop) if features else samples


def crop_for(seconds: float | Sequence[float] | None, spec: ModelSpec, features: bool) -> tuple[int, int] | None:
    """A training crop (seconds, or [min, max] seconds) as (min, max) items along the inputs' time axis."""
    if seconds is None:
        return None
    lengths = [frames_for(float(value), spec, features) for value in np.atleast_1d(seconds)]
    return lengths[0], lengths[-1]


def open_inputs(path: str | Path) -> tuple[Dataset, bool]:
    """A feature cache or a waveform store, and whether it holds prefix features."""
    with h5py.File(require_file(path, "feature cache or waveform store"), "r") as handle:
        is_features = "features" in handle
    return (FeatureDataset(path) if is_features else WaveformDataset(path)), is_features


def require_both_classes(dataset: Dataset, path: str | Path) -> None:
    """A validation set must hold real and fake clips: EER is undefined otherwise, and training would
    only find out at its first validation, after the work of `valid_every` steps."""
    labels = np.asarray(dataset.labels)
    counts = {name: int((labels == value).sum()) for name, value in (("real", 1), ("fake", 0))}
    if min(counts.values()) == 0:
        raise ValueError(f"{path}: validation set with {counts['real']} real and {counts['fake']} fake clips; "
                         "its EER is undefined: use a validation set with both classes")


def initial_detector(spec: ModelSpec, init: str, checkpoint: str | Path, freeze: str, seed: int) -> Detector:
    """The starting point of fine-tuning: a pre-trained front end + new head (init `pretrained`), or a
    whole detector (the post-trained one, or another method's run for two-stage methods)."""
    if init != "pretrained":
        return load_detector(checkpoint, freeze=freeze)
    detector = Detector(spec, freeze=freeze, seed=seed)
    load_frontend_into(detector, checkpoint)
    return detector


def pretrain(model_key: str, model_cfg: Mapping[str, Any], settings: Mapping[str, Any], store: str | Path,
             output: str | Path, device: str = "cpu") -> dict[str, float]:
    """Self-supervised pre-training on the real clips of `store`; saves the front end."""
    spec = ModelSpec.from_config(model_key, model_cfg)
    seed = int(settings.get("seed", 0))
    model = build_pretraining_model(spec, seed)
    losses = pretrain_frontend(spec, WaveformDataset(store), steps=settings["steps"],
                               batch_size=settings["batch_size"], lr=settings["lr"],
                               crop_seconds=settings["crop_seconds"], seed=seed, model=model)
    save_frontend(pretrained_frontend_state(model), output, spec, metadata=losses)
    return losses


def posttrain(model_key: str, model_cfg: Mapping[str, Any], settings: Mapping[str, Any], pretrained: str | Path,
              train_store: str | Path, valid_store: str | Path, output: str | Path, log_csv: str | Path,
              device: str = "cpu") -> float:
    """Supervised post-training (cross-entropy) of front end + new head on waveforms; keeps the state that
    `settings["keep"]` names (default final, as the schema's); returns that state's validation EER."""
    spec = ModelSpec.from_config(model_key, model_cfg)
    seed = int(settings.get("seed", 0))
    detector = initial_detector(spec, "pretrained", pretrained, settings["freeze"], seed=seed)
    schedule = TrainSettings(lr=settings["lr"], epochs=settings["epochs"], batch_size=settings["batch_size"],
                             valid_every=settings.get("valid_every"), seed=seed, device=device,
                             crop=crop_for(settings["crop_seconds"], spec, features=False),
                             keep=settings.get("keep", "final"), max_steps=settings.get("max_steps"))
    valid_set = WaveformDataset(valid_store)
    require_both_classes(valid_set, valid_store)
    with resumable_job(output, [pretrained, train_store, valid_store], stage="posttrain", model=dict(model_cfg),
                       settings=dict(settings), device=device) as (resume, job):
        result = train(detector, CrossEntropy(), WaveformDataset(train_store), valid_set,
                       schedule, inputs_are_features=False, log_path=log_csv, desc=f"posttrain {model_key}",
                       resume_path=resume, fingerprint=job)
        save_detector(detector.cpu(), output, metadata={"keep": schedule.keep, **result.metadata()})
    return result.kept_eer


def feature_cache(model_key: str, model_cfg: Mapping[str, Any], init: str, checkpoint: str | Path, freeze: str,
                  stores: Sequence[str | Path], outputs: Sequence[str | Path], batch_size: int = 16,
                  max_batch_seconds: float | None = None) -> int:
    """The frozen prefix's outputs for each store (paired lists); returns the segment count.
    `max_batch_seconds`: at most this much padded audio per batch (speed only; see scoring.length_batches)."""
    spec = ModelSpec.from_config(model_key, model_cfg)
    detector = initial_detector(spec, init, checkpoint, freeze, seed=0)
    max_samples = frames_for(max_batch_seconds, spec, features=False)
    return sum(write_feature_cache(detector, store, output, batch_size=batch_size, source_checkpoint=str(checkpoint),
                                   max_batch_samples=max_samples)
               for store, output in zip(stores, outputs, strict=True))


def rawboost_settings() -> RawBoostSettings:
    """RawBoost's default settings, imported only by a run that augments: the module loads scipy.signal,
    about 1 s of a job's start-up (measured), which fine-tuning without RawBoost never needs."""
    from deepfake_rl.data.rawboost import RawBoostSettings

    return RawBoostSettings()


def finetune(model_key: str, model_cfg: Mapping[str, Any], method_cfg: Mapping[str, Any],
             settings: Mapping[str, Any], seed: int, init_checkpoint: str | Path, train_inputs: str | Path,
             valid_inputs: str | Path, output: str | Path, log_csv: str | Path, device: str = "cpu",
             desc: str = "finetune", reference_checkpoint: str | Path | None = None,
             checkpoint_every: int | None = None) -> float:
    """Fine-tune one model with one method and seed; saves the best checkpoint; returns its validation EER.

    `reference_checkpoint`: the KL reference when it is not the starting checkpoint (method setting
    `reference: posttrained` for a method starting from another method's run).
    A job that is stopped (SIGTERM) or killed leaves `resume.pt` next to `output` (every
    `checkpoint_every` steps, and at the signal); the same job rerun continues from it."""
    spec = ModelSpec.from_config(model_key, model_cfg)
    detector = initial_detector(spec, method_cfg["init"], init_checkpoint, settings["freeze"], seed=seed)
    train_set, features = open_inputs(train_inputs)
    valid_set, _ = open_inputs(valid_inputs)
    require_both_classes(valid_set, valid_inputs)
    for dataset in (train_set, valid_set):
        if isinstance(dataset, FeatureDataset):
            dataset.check_compatible(detector)
    schedule = TrainSettings(
        lr=method_cfg["lr"], epochs=method_cfg.get("epochs", 1), max_steps=method_cfg.get("max_steps"),
        valid_every=method_cfg.get("valid_every"), batch_size=method_cfg.get("batch_size", settings["batch_size"]),
        seed=seed, device=device, crop=crop_for(settings.get("crop_seconds"), spec, features),
        lr_schedule=method_cfg.get("lr_schedule"),
        precision=settings.get("precision", "fp32"),
        max_batch_items=frames_for(settings.get("max_batch_seconds"), spec, features),
        augment=rawboost_settings() if settings.get("rawboost") else None, checkpoint_every=checkpoint_every,
        workers=settings.get("loader_workers", 0))
    reference = None if reference_checkpoint is None else load_detector(reference_checkpoint, freeze=settings["freeze"])
    method = build_method(method_cfg["loss"], {k: v for k, v in method_cfg.items() if k not in NOT_LOSS_KEYS},
                          reference=reference)
    inputs = [init_checkpoint, train_inputs, valid_inputs, *([reference_checkpoint] if reference_checkpoint else [])]
    with resumable_job(output, inputs, stage="finetune", model=dict(model_cfg), method=dict(method_cfg),
                       settings=dict(settings), seed=seed, device=device) as (resume, job):
        result = train(detector, method, train_set, valid_set, schedule, inputs_are_features=features,
                       log_path=log_csv, desc=desc, resume_path=resume, fingerprint=job)
        save_detector(detector.cpu(), output, metadata={
            **result.metadata(), "seed": seed, "seconds": result.seconds, "resumed_from_step": result.resumed_from})
    return result.kept_eer


def score(checkpoint: str | Path, freeze: str, inputs: Sequence[str | Path], scores_csv: Sequence[str | Path],
          embeddings_h5: Sequence[str | Path], batch_size: int = 16, device: str = "cpu",
          max_batch_seconds: float | None = None) -> None:
    """Scores CSV and pooled embeddings (HDF5) of one checkpoint on each dataset (paired lists);
    `max_batch_seconds`: at most this much padded audio per batch (speed only; see scoring.length_batches)."""
    score_runs([checkpoint], freeze, inputs, scores_csv, embeddings_h5, batch_size=batch_size, device=device,
               max_batch_seconds=max_batch_seconds)


def score_runs(checkpoints: Sequence[str | Path], freeze: str, inputs: Sequence[str | Path],
               scores_csv: Sequence[str | Path], embeddings_h5: Sequence[str | Path], batch_size: int = 16,
               device: str = "cpu", max_batch_seconds: float | None = None) -> None:
    """`score` for several checkpoints of one model (the seeds of a run), each dataset read once for all.
    Outputs are checkpoint-major: checkpoint k's file for dataset j is entry k * len(inputs) + j."""
    if len(scores_csv) != len(checkpoints) * len(inputs) or len(embeddings_h5) != len(scores_csv):
        raise ValueError(f"{len(checkpoints)} checkpoints x {len(inputs)} datasets need as many scores and "
                         f"embeddings files, got {len(scores_csv)} and {len(embeddings_h5)}")
    detectors = [load_detector(checkpoint, freeze=freeze).to(device) for checkpoint in checkpoints]
    for number, data in enumerate(inputs):
        dataset, features = open_inputs(data)
        if isinstance(dataset, FeatureDataset):
            for detector in detectors:
                dataset.check_compatible(detector)
        each = score_with_each(detectors, dataset, inputs_are_features=features, batch_size=batch_size,
                               device=device, desc=f"score {Path(data).stem}",
                               max_padded=frames_for(max_batch_seconds, detectors[0].spec, features))
        for run, (checkpoint, scores) in enumerate(zip(checkpoints, each)):
            output = run * len(inputs) + number
            write_scores(scores, dataset.ids, checkpoint, scores_csv[output], embeddings_h5[output])


def write_scores(scores: Scores, ids: list[str], checkpoint: str | Path, scores_csv: str | Path,
                 embeddings_h5: str | Path) -> None:
    """One run's scores CSV and embeddings HDF5 for one dataset, each written aside and renamed."""
    with atomic_path(scores_csv) as temporary:
        scores.table(ids).to_csv(temporary, index=False, float_format="%.6g")
    with atomic_path(embeddings_h5) as temporary, h5py.File(temporary, "w") as handle:
        handle.create_dataset("embeddings", data=scores.embeddings.astype(np.float32))
        handle.create_dataset("label", data=scores.labels.astype(np.int8))
        handle.create_dataset("id", data=ids, dtype=h5py.string_dtype("utf-8"))
        handle.attrs["checkpoint"] = str(checkpoint)
