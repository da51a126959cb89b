"""One training loop for every method: AdamW on the detector's trainable suffix, validation EER at
a fixed step interval and at the end, the best state kept, a per-step CSV log and a progress bar.

Deterministic for a seed on CPU: seeded shuffling and crops, no worker processes.
"""

from __future__ import annotations

import csv
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
    crop: int | None = None            # max items along the time axis during training (random offset)
    seed: int = 0
    device: str = "cpu"


@dataclass
class TrainResult:
    best_eer: float
    best_step: int
    steps: int
    seconds: float


class RandomCrop(Dataset):
    """Crops items longer than `crop` along the first axis at a seeded random offset."""

    def __init__(self, dataset: Dataset, crop: int | None, seed: int) -> None:
        self.dataset, self.crop = dataset, crop
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        item, label, position = self.dataset[index]
        if self.crop is not None and len(item) > self.crop:
            offset = int(self.rng.integers(0, len(item) - self.crop + 1))
            item = item[offset:offset + self.crop]
        return item, label, position


def validation_eer(detector: nn.Module, valid_set: Dataset, inputs_are_features: bool, settings: TrainSettings) -> float:
    scores = score_dataset(detector, valid_set, inputs_are_features=inputs_are_features,
                           batch_size=settings.batch_size, device=settings.device, progress=False)
    return eer_from_labels(scores.score, scores.labels)


def _state_copy(detector: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in detector.state_dict().items()}


def optimiser_step(method: Method, detector: nn.Module, batch: Batch, optimiser: torch.optim.Optimizer,
                   parameters: list[nn.Parameter], grad_clip: float) -> tuple[dict[str, float], float]:
    """One update: the method's loss, backward, gradient clipping, the optimiser step (shared by the
    loop and the step-time benchmarks, so both time the same work). Returns the stats and grad norm."""
    loss, stats = method.loss(detector, batch)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimiser.step()
    return stats, float(grad_norm)


def train(detector: nn.Module, method: Method, train_set: Dataset, valid_set: Dataset, settings: TrainSettings,
          *, inputs_are_features: bool, log_path: str | Path | None = None, progress: bool = True,
          desc: str = "train") -> TrainResult:
    """Fine-tune in place; on return the detector holds the state with the lowest validation EER."""
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    detector.to(device).train()
    method.setup(detector, len(train_set))
    parameters = [p for p in detector.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay,
                                  eps=settings.adam_eps)
    loader = DataLoader(RandomCrop(train_set, settings.crop, settings.seed), batch_size=settings.batch_size,
                        shuffle=True, collate_fn=collate_padded, drop_last=len(train_set) > settings.batch_size,
                        generator=torch.Generator().manual_seed(settings.seed))
    total = settings.epochs * len(loader)
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    best_eer, best_step, best_state = math.inf, 0, _state_copy(detector)
    rows: list[dict[str, Any]] = []
    start, step = time.perf_counter(), 0
    bar = tqdm(total=total, desc=desc, unit="step", disable=not progress)

    def validate() -> float:
        nonlocal best_eer, best_step, best_state
        eer = validation_eer(detector, valid_set, inputs_are_features, settings)
        if eer < best_eer:
            best_eer, best_step, best_state = eer, step, _state_copy(detector)
        return eer

    for epoch in range(settings.epochs):
        for raw in loader:
            if step >= total:
                break
            inputs, lengths = model_inputs(detector, raw, inputs_are_features, device)
            batch = Batch(inputs, lengths, raw["label"].to(device), raw["index"].to(device))
            stats, grad_norm = optimiser_step(method, detector, batch, optimiser, parameters, settings.grad_clip)
            step += 1
            stats.update(method.after_step(detector, step, batch))
            row = {"step": step, "epoch": epoch, **stats, "grad_norm": grad_norm,
                   "seconds": round(time.perf_counter() - start, 3), "valid_eer": ""}
            if settings.valid_every and step % settings.valid_every == 0 and step < total:
                row["valid_eer"] = validate()
            rows.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{stats.get('loss', float('nan')):.4f}")
        epoch_stats = method.after_epoch(detector, epoch)
        if epoch_stats and rows:
            rows[-1].update(epoch_stats)
        if step >= total:
            break
    bar.close()
    final_eer = validate()
    if rows:
        rows[-1]["valid_eer"] = final_eer
    detector.load_state_dict(best_state)
    if log_path is not None:
        write_log(rows, log_path)
    return TrainResult(best_eer=best_eer, best_step=best_step, steps=step, seconds=time.perf_counter() - start)


def write_log(rows: list[dict[str, Any]], path: str | Path) -> None:
    """The per-step training log as CSV (columns: union of all rows' keys, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or ["step"])
        writer.writeheader()
        writer.writerows(rows)
