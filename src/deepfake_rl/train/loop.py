"""One training loop for every method: AdamW on the detector's trainable suffix under a learning-rate
schedule (deepfake_rl.train.lr_schedule), validation EER at a fixed step interval and at the end, the
best state kept, a per-step CSV log (with each update's rate, `lr`) and a progress bar.

Deterministic for a seed on CPU: seeded shuffling, crops and augmentation, no worker processes.
Resumable: with a `resume_path` the loop saves its whole state every `checkpoint_every` steps and
when SIGTERM/SIGINT arrives (then it stops with TrainingInterrupted), and a rerun continues from
that file to the same result as an uninterrupted run (deepfake_rl.train.resume).
GPU path: bf16 autocast (`precision: bf16`), pinned host memory, batches bounded by padded length.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from deepfake_rl.data.dataset import collate_padded
from deepfake_rl.io_utils import atomic_path
from deepfake_rl.methods.base import Batch, Method
from deepfake_rl.metrics import eer_from_labels
from deepfake_rl.scoring import model_inputs, score_dataset
from deepfake_rl.train.lr_schedule import LRSchedule
from deepfake_rl.train.resume import (StopRequest, TrainingInterrupted, load_state, rng_state, save_state,
                                      set_rng_state)

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
KEEP = ("best", "final")


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and schedule; defaults follow the AntiDeepfake fine-tuning recipe where it applies."""

    lr: float
    epochs: int
    batch_size: int
    max_steps: int | None = None
    valid_every: int | None = None     # steps between validations (always also at the end)
    weight_decay: float = 0.01
    adam_eps: float = 1e-6
    grad_clip: float = 100.0
    crop: int | tuple[int, int] | None = None  # training crop along the time axis: a length, or (min, max)
    lr_schedule: dict[str, Any] | None = None  # config `lr_schedule` (LRSchedule.from_config); None: constant
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"            # fp32 | bf16 (autocast of the forward passes; CUDA, or CPU bf16)
    max_batch_items: int | None = None  # dynamic batches: padded items (samples/frames) per batch
    augment: Any = None                # RawBoostSettings: augmentation of training waveforms, or None
    checkpoint_every: int | None = None  # steps between resume states (with a resume path)
    workers: int = 0                   # DataLoader worker processes (crops and RawBoost off the main process)
    # best: the state with the lowest validation EER (strict <: of equal EERs the earliest is kept); final: the
    # last state, validation only logged (a tie between two validations cannot then pick the state)
    keep: str = "best"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected one of {PRECISIONS}")
        if self.keep not in KEEP:
            raise ValueError(f"keep {self.keep!r}: expected one of {KEEP}")


@dataclass
class TrainResult:
    best_eer: float                    # the lowest validation EER seen, and its step
    best_step: int
    steps: int
    seconds: float
    kept_eer: float                    # the validation EER and step of the state the detector holds on return
    kept_step: int
    resumed_from: int = 0              # the step a saved state was resumed at (0: a fresh run)

    def metadata(self) -> dict[str, Any]:
        """What a trained checkpoint records about its training."""
        return {"kept_step": self.kept_step, "kept_valid_eer": self.kept_eer, "best_step": self.best_step,
                "best_valid_eer": self.best_eer, "steps": self.steps}


def crop_bounds(crop: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """A training crop as (min, max) items along the time axis: a single length is (length, length)."""
    if crop is None:
        return None
    low, high = (crop, crop) if np.ndim(crop) == 0 else crop
    if not 0 < low <= high:
        raise ValueError(f"crop: need 0 < min <= max, got {crop}")
    return int(low), int(high)


class TrainingView(Dataset):
    """Training items: an item longer than the crop's max is cut to a length drawn uniformly from
    [min, max] (both ends included; no draw when min == max, i.e. a fixed crop) at a random offset, as
    the AntiDeepfake recipe cuts clips over 13 s to 10-13 s; shorter items stay whole. Then RawBoost
    when `augment` is set.

    Without worker processes one seeded numpy Generator drives all draws, item after item, so the loop
    can save it at an epoch start and replay the epoch's draws exactly on resume. With workers
    (`per_item=True`) each item's draws come from a Generator seeded by (seed, epoch, position):
    the same whatever the number of workers or the order they finish in, and nothing to save."""

    def __init__(self, dataset: Dataset, crop: int | tuple[int, int] | None, seed: int, augment: Any = None,
                 per_item: bool = False) -> None:
        self.dataset, self.crop, self.augment, self.per_item = dataset, crop_bounds(crop), augment, per_item
        self.seed, self.epoch = seed, 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        item, label, position = self.dataset[index]
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.per_item else self.rng
        if self.crop is not None and len(item) > self.crop[1]:
            low, high = self.crop
            size = high if low == high else int(rng.integers(low, high + 1))
            offset = int(rng.integers(0, len(item) - size + 1))
            item = item[offset:offset + size]
        if self.augment is not None:
            from deepfake_rl.data.rawboost import rawboost

            item = torch.from_numpy(rawboost(item.numpy(), self.augment, rng))
        return item, label, position

    def _stored_lengths(self) -> np.ndarray | None:
        """Items along the time axis as stored (None when the dataset does not tell)."""
        lengths = getattr(self.dataset, "lengths", None)
        return None if lengths is None else np.asarray(lengths())

    def lengths(self) -> np.ndarray | None:
        """Items along the time axis as training sees them at most (capped by the crop's max): what
        dynamic batches are planned on, so a batch's padded size never exceeds its plan."""
        lengths = self._stored_lengths()
        return lengths if lengths is None or self.crop is None else np.minimum(lengths, self.crop[1])

    def repeatable(self) -> np.ndarray | None:
        """Per item: is its input identical at every visit (never cropped, not augmented)?"""
        lengths = self._stored_lengths()
        if lengths is None:
            return None
        return (lengths <= (self.crop[1] if self.crop is not None else np.inf)) & (self.augment is None)

    def rng_state(self) -> str:
        return json.dumps(self.rng.bit_generator.state)    # JSON: its 128-bit integers as text

    def set_rng_state(self, state: str) -> None:
        self.rng.bit_generator.state = json.loads(state)


def validation_eer(detector: nn.Module, valid_set: Dataset, inputs_are_features: bool, settings: TrainSettings) -> float:
    scores = score_dataset(detector, valid_set, inputs_are_features=inputs_are_features,
                           batch_size=settings.batch_size, device=settings.device, progress=False)
    return eer_from_labels(scores.score, scores.labels)


def _state_copy(detector: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in detector.state_dict().items()}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast of the forward passes (no loss scaling needed for bf16), or nothing for fp32.
    On a CUDA device without bf16 support the run falls back to fp32 with a warning."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        log.warning("%s does not support bf16; training in fp32", device)
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def optimiser_step(method: Method, detector: nn.Module, batch: Batch, optimiser: torch.optim.Optimizer,
                   parameters: list[nn.Parameter], grad_clip: float,
                   precision: contextlib.AbstractContextManager | None = None) -> tuple[dict[str, float], float]:
    """One update: the method's loss (under `precision`, e.g. autocast), backward, gradient clipping,
    the optimiser step (shared by the loop and the step-time benchmarks, so both time the same work).
    Returns the stats and grad norm."""
    with precision or contextlib.nullcontext():
        loss, stats = method.loss(detector, batch)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimiser.step()
    return stats, float(grad_norm)


def _loader(view: TrainingView, settings: TrainSettings, generator: torch.Generator, device: torch.device
            ) -> DataLoader:
    """Shuffled batches of `batch_size` items, or of at most `max_batch_items` padded items; loaded
    by `workers` processes (each opens the HDF5 file itself) into pinned memory on CUDA."""
    common = {"collate_fn": collate_padded, "pin_memory": device.type == "cuda", "num_workers": settings.workers}
    if settings.max_batch_items is None:
        return DataLoader(view, batch_size=settings.batch_size, shuffle=True, generator=generator,
                          drop_last=len(view) > settings.batch_size, **common)
    from deepfake_rl.data.batching import DurationBatchSampler

    lengths = view.lengths()
    if lengths is None:
        raise ValueError("max_batch_items needs a dataset that knows its items' lengths")
    return DataLoader(view, batch_sampler=DurationBatchSampler(lengths, settings.max_batch_items, generator=generator),
                      **common)


def train(detector: nn.Module, method: Method, train_set: Dataset, valid_set: Dataset, settings: TrainSettings,
          *, inputs_are_features: bool, log_path: str | Path | None = None, progress: bool = True,
          desc: str = "train", resume_path: str | Path | None = None, fingerprint: str = "") -> TrainResult:
    """Fine-tune in place; on return the detector holds the state `settings.keep` names: the one with the
    lowest validation EER (the earliest of equal ones), or the final one.

    With `resume_path`: continue from the state saved there by an interrupted run of the same job
    (`fingerprint` tells jobs apart; `settings.keep` is added to it, since a keep-final state holds no best
    state to resume keep best from), and save the state there every `checkpoint_every` steps and on
    SIGTERM/SIGINT (then raise TrainingInterrupted). The caller removes the file once its outputs
    are written."""
    if settings.augment is not None and inputs_are_features:
        raise ValueError("augmentation (RawBoost) works on waveforms; it cannot apply to cached prefix "
                         "features: use freeze none, or switch augmentation off")
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    detector.to(device).train()
    method.setup(detector, len(train_set))
    parameters = [p for p in detector.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay,
                                  eps=settings.adam_eps)
    schedule = LRSchedule.from_config(settings.lr, settings.lr_schedule)
    view = TrainingView(train_set, settings.crop, settings.seed, settings.augment, per_item=settings.workers > 0)
    repeatable = view.repeatable()
    repeatable = None if repeatable is None else torch.from_numpy(repeatable)
    generator = torch.Generator().manual_seed(settings.seed)
    loader = _loader(view, settings, generator, device)
    planned = settings.epochs * len(loader)    # dynamic batches: an estimate (batch counts vary by epoch)
    total = planned if settings.max_batch_items is None else math.inf
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    keep_best = settings.keep == "best"
    fingerprint = f"{fingerprint}|keep={settings.keep}"
    best_eer, best_step, best_state = math.inf, 0, _state_copy(detector) if keep_best else None
    rows: list[dict[str, Any]] = []
    step, first_epoch, skip, elapsed = 0, 0, 0, 0.0
    saved = None if resume_path is None else load_state(resume_path, fingerprint)
    if saved is not None:
        detector.load_state_dict(saved["detector"])
        optimiser.load_state_dict(saved["optimiser"])
        method.load_state_dict(saved["method"], detector)
        best_eer, best_step, best_state = saved["best_eer"], saved["best_step"], saved["best_state"]
        rows, step, elapsed = saved["rows"], saved["step"], saved["seconds"]
        first_epoch, skip = saved["epoch"], saved["epoch_step"]
        log.info("resuming %s at step %d (epoch %d) from %s", desc, step, first_epoch, resume_path)
    resumed_from = step
    start = time.perf_counter() - elapsed
    precision = autocast(device, settings.precision)
    bar = tqdm(total=min(total, planned), initial=step, desc=desc, unit="step", disable=not progress)

    def validate() -> float:
        nonlocal best_eer, best_step, best_state
        eer = validation_eer(detector, valid_set, inputs_are_features, settings)
        if eer < best_eer:
            best_eer, best_step = eer, step
            if keep_best:
                best_state = _state_copy(detector)
        return eer

    def save(epoch: int, epoch_step: int, epoch_start: dict[str, Any]) -> None:
        # `step` is also the learning-rate schedule's position: the next update runs at schedule.lr_at(step)
        save_state(resume_path, {
            "detector": detector.state_dict(), "optimiser": optimiser.state_dict(),
            "method": method.state_dict(), "best_eer": best_eer, "best_step": best_step,
            "best_state": best_state, "rows": rows, "step": step, "seconds": time.perf_counter() - start,
            "epoch": epoch, "epoch_step": epoch_step, "epoch_start": epoch_start, "rng": rng_state()}, fingerprint)

    def stop_now(epoch: int, epoch_step: int, epoch_start: dict[str, Any]) -> None:
        save(epoch, epoch_step, epoch_start)
        raise TrainingInterrupted(f"{desc}: stopped by signal {stop.signal_number} at step {step}; state saved "
                                  f"to {resume_path}: rerun the job to resume")

    stop = StopRequest()
    with stop.installed() if resume_path is not None else contextlib.nullcontext():
        for epoch in range(first_epoch, settings.epochs):
            if step >= total and saved is None:
                break
            if saved is not None and epoch == first_epoch:    # replay this epoch's draws up to the saved step
                generator.set_state(saved["epoch_start"]["loader"])
                view.set_rng_state(saved["epoch_start"]["view"])
            else:
                skip = 0
            epoch_start = {"loader": generator.get_state(), "view": view.rng_state()}
            epoch_step, view.epoch = 0, epoch     # workers copy the view when the epoch's iterator starts
            for raw in loader:
                if epoch_step < skip:
                    epoch_step += 1
                    continue
                if saved is not None:
                    set_rng_state(saved["rng"])
                    saved = None
                if step >= total:
                    break
                inputs, lengths = model_inputs(detector, raw, inputs_are_features, device)
                batch = Batch(inputs, lengths, raw["label"].to(device), raw["index"].to(device),
                              None if repeatable is None else repeatable[raw["index"]].to(device))
                rate = schedule.lr_at(step)
                for group in optimiser.param_groups:
                    group["lr"] = rate
                stats, grad_norm = optimiser_step(method, detector, batch, optimiser, parameters,
                                                  settings.grad_clip, precision)
                step += 1
                epoch_step += 1
                with precision:
                    stats.update(method.after_step(detector, step, batch))
                row = {"step": step, "epoch": epoch, **stats, "grad_norm": grad_norm, "lr": rate,
                       "seconds": round(time.perf_counter() - start, 3), "valid_eer": ""}
                if settings.valid_every and step % settings.valid_every == 0 and step < total:
                    row["valid_eer"] = validate()
                rows.append(row)
                bar.update(1)
                bar.set_postfix(loss=f"{stats.get('loss', float('nan')):.4f}")
                if stop:
                    stop_now(epoch, epoch_step, epoch_start)
                if resume_path is not None and settings.checkpoint_every and step % settings.checkpoint_every == 0:
                    save(epoch, epoch_step, epoch_start)
            if saved is not None:        # the saved step closed this epoch: nothing left to replay
                set_rng_state(saved["rng"])
                saved = None
            epoch_stats = method.after_epoch(detector, epoch)
            if epoch_stats and rows:
                rows[-1].update(epoch_stats)
            if stop and step < total:    # the next epoch starts from the generators as they are now
                stop_now(epoch + 1, 0, {"loader": generator.get_state(), "view": view.rng_state()})
    bar.close()
    final_eer = validate()
    if rows:
        rows[-1]["valid_eer"] = final_eer
    if keep_best:
        detector.load_state_dict(best_state)
    if log_path is not None:
        write_log(rows, log_path)
    return TrainResult(best_eer=best_eer, best_step=best_step, steps=step,
                       seconds=time.perf_counter() - start, resumed_from=resumed_from,
                       kept_eer=best_eer if keep_best else final_eer, kept_step=best_step if keep_best else step)


def write_log(rows: list[dict[str, Any]], path: str | Path) -> None:
    """The per-step training log as CSV (columns: union of all rows' keys, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or ["step"])
        writer.writeheader()
        writer.writerows(rows)
