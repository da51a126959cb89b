"""Shared machinery of the step-time benchmarks: one model and one batch, several methods, optimiser
steps timed round-robin (so background load hits every method alike) and reported as ratios to a
baseline measured in the same run. Not a test: numbers depend on the machine."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from deepfake_rl.methods.base import Batch, Method
from deepfake_rl.models import Detector, ModelSpec
from deepfake_rl.train.loop import optimiser_step

REPO = Path(__file__).resolve().parents[1]


def model_spec(model: str, config_path: Path = REPO / "config" / "config.yaml") -> ModelSpec:
    """A stand-in model of the embedded default config."""
    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    return ModelSpec.from_config(model, config["models"][model])


def synthetic_batch(detector: Detector, batch_size: int, seconds: float, seed: int = 0) -> Batch:
    """Random waveforms through the detector's frozen prefix: the trainable part's inputs exactly as
    training sees them (cached prefix features when a prefix is frozen, waveforms otherwise)."""
    generator = torch.Generator().manual_seed(seed)
    samples = int(seconds * 16000)
    waves = 0.1 * torch.randn(batch_size, samples, generator=generator)
    inputs, lengths = detector.prefix(waves, torch.full((batch_size,), samples))
    return Batch(inputs, lengths, torch.arange(batch_size) % 2, torch.arange(batch_size))


@dataclass
class Timed:
    name: str
    method: Method
    detector: Detector
    optimiser: torch.optim.Optimizer
    parameters: list[torch.nn.Parameter]
    step: int = 0
    batch: Batch | None = None      # the entry's own batch (e.g. marked repeatable), else the shared one


def prepare(name: str, method: Method, make_detector: Callable[[], Detector], train_size: int,
            batch: Batch | None = None) -> Timed:
    detector = make_detector().train()
    method.setup(detector, train_size)
    parameters = [p for p in detector.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=1e-5, weight_decay=0.01, eps=1e-6)
    return Timed(name, method, detector, optimiser, parameters, batch=batch)


def run_step(timed: Timed, batch: Batch) -> None:
    """What the training loop does per step: the update and the method's after-step hook."""
    optimiser_step(timed.method, timed.detector, batch, timed.optimiser, timed.parameters, grad_clip=100.0)
    timed.step += 1
    timed.method.after_step(timed.detector, timed.step, batch)


def time_round_robin(entries: list[Timed], batch: Batch, rounds: int, steps_per_round: int,
                     warmup: int = 2) -> dict[str, float]:
    """Median seconds per step of each entry, over rounds that visit every entry in turn (on its own
    batch where it has one; the warm-up steps fill caches such as GRPO's reference cache)."""
    for entry in entries:
        for _ in range(warmup):
            run_step(entry, entry.batch or batch)
    per_round: dict[str, list[float]] = {entry.name: [] for entry in entries}
    for _ in range(rounds):
        for entry in entries:
            start = time.perf_counter()
            for _ in range(steps_per_round):
                run_step(entry, entry.batch or batch)
            per_round[entry.name].append((time.perf_counter() - start) / steps_per_round)
    return {name: statistics.median(times) for name, times in per_round.items()}


def print_ratios(title: str, seconds: dict[str, float], baseline: str = "sft") -> None:
    """The measured table: ms per step and the ratio to the baseline measured in the same run."""
    width = max(len(name) for name in seconds) + 2
    print(title)
    print(f"{'method':<{width}} {'ms/step':>9} {'/ ' + baseline:>7}")
    for name, value in seconds.items():
        print(f"{name:<{width}} {1000 * value:9.2f} {value / seconds[baseline]:7.3f}")
