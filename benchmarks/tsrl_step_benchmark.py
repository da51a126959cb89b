"""Time per optimiser step of TSRL (and CL) vs SFT on the same model and batch, printed as ratios
measured in one run. A step includes the method's after_step hook and, amortised over the epoch,
its after_epoch work (TSRL's PPO update), so the ratio is what a training run pays per step.

TSRL scores the batch twice more in eval mode (before and after the update) and runs the tutor, so
expect about 1 + 2 x (forward share of a step) once the tutor acts; the warm-up and CL score once.

    python benchmarks/tsrl_step_benchmark.py                    # default stand-in, cached features
    python benchmarks/tsrl_step_benchmark.py --freeze none      # full fine-tuning on waveforms
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from step_timing import Timed, model_spec, prepare, print_ratios, run_step, synthetic_batch  # noqa: E402

from deepfake_rl.methods import Batch  # noqa: E402
from deepfake_rl.methods.sft import SFT  # noqa: E402
from deepfake_rl.methods.tsrl import TSRL  # noqa: E402
from deepfake_rl.models import Detector  # noqa: E402

NEVER = 10 ** 9   # warm-up epochs of an entry that stays in the warm-up phase


def run_epoch(entry: Timed, batch: Batch, steps: int, epoch: int) -> None:
    """`steps` optimiser steps, then the method's epoch-end hook (as the training loop does)."""
    for _ in range(steps):
        run_step(entry, batch)
    entry.method.after_epoch(entry.detector, epoch)


def time_epochs(entries: dict[str, tuple[Timed, int]], batch: Batch, rounds: int, steps: int) -> dict[str, float]:
    """Median seconds per step, amortising the epoch-end work, over rounds that visit every entry in
    turn (background load hits all alike). Each entry first runs its warm-up epochs untimed."""
    epochs = {}
    for name, (entry, skip) in entries.items():
        for epoch in range(skip):
            run_epoch(entry, batch, steps, epoch)
        epochs[name] = skip
    per_round: dict[str, list[float]] = {name: [] for name in entries}
    for _ in range(rounds):
        for name, (entry, _) in entries.items():
            start = time.perf_counter()
            run_epoch(entry, batch, steps, epochs[name])
            per_round[name].append((time.perf_counter() - start) / steps)
            epochs[name] += 1
    return {name: statistics.median(times) for name, times in per_round.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="xlsr_2b", help="a model of config/config.yaml (default: the largest)")
    parser.add_argument("--freeze", default="layers:-1", help="as finetune.freeze (default: the embedded default's)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0, help="crop length of the batch's utterances")
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch (PPO runs once per epoch)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    spec = model_spec(args.model)

    def make_detector() -> Detector:
        return Detector(spec, freeze=args.freeze, seed=0)

    def entry(name: str, method: TSRL | SFT) -> Timed:
        return prepare(name, method, make_detector, args.batch_size)

    batch = synthetic_batch(make_detector(), args.batch_size, args.seconds)
    entries = {
        "sft": (entry("sft", SFT()), 0),
        "tsrl warm-up": (entry("tsrl warm-up", TSRL(warmup_epochs=NEVER, seed=0)), 0),
        "tsrl tutored": (entry("tsrl tutored", TSRL(warmup_epochs=1, seed=0)), 1),
        "cl tutored": (entry("cl tutored", TSRL(warmup_epochs=1, seed=0, learn_tutor=False)), 1),
    }
    seconds = time_epochs(entries, batch, args.rounds, args.steps)

    print_ratios(f"model {args.model}, freeze {args.freeze}, batch {args.batch_size} x {args.seconds:g} s, "
                 f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.rounds} epochs x "
                 f"{args.steps} steps (epoch-end work amortised)", seconds)


if __name__ == "__main__":
    main()
