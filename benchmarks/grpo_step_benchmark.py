"""Time per optimiser step of GRPO vs SFT on the same model and batch, for several group sizes G,
printed as ratios measured in one run (issue 5's target: GRPO / SFT within 1.10 at G = 64, i.e.
sampling G labels must cost arithmetic, not G forward passes).

"live": the frozen KL reference runs a no-grad forward pass every step (epoch 1, or inputs that are
cropped at a random offset or augmented); "cached": the batch is marked repeatable and the reference
cache is warm (epoch 2 on for inputs identical at every visit), so no reference pass runs.

    python benchmarks/grpo_step_benchmark.py                    # default stand-in, cached features
    python benchmarks/grpo_step_benchmark.py --freeze none      # full fine-tuning on waveforms
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from step_timing import model_spec, prepare, print_ratios, synthetic_batch, time_round_robin  # noqa: E402

from deepfake_rl.methods import build_method  # noqa: E402
from deepfake_rl.models import Detector  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="xlsr_2b", help="a model of config/config.yaml (default: the largest)")
    parser.add_argument("--freeze", default="layers:-1", help="as finetune.freeze (default: the embedded default's)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0, help="crop length of the batch's utterances")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="steps per round and method")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    spec = model_spec(args.model)

    def make_detector() -> Detector:
        return Detector(spec, freeze=args.freeze, seed=0)

    batch = synthetic_batch(make_detector(), args.batch_size, args.seconds)
    repeatable = replace(batch, repeatable=torch.ones(args.batch_size, dtype=torch.bool))
    entries = [prepare("sft", build_method("sft"), make_detector, args.batch_size)]

    def grpo(name: str, settings: dict[str, object], cached: bool = False) -> None:
        entries.append(prepare(name, build_method("grpo", settings), make_detector, args.batch_size,
                               repeatable if cached else None))

    for group in args.groups:
        grpo(f"grpo G={group} live", {"group_size": group})
    grpo("grpo G=64 cached", {"group_size": 64}, cached=True)
    grpo("grpo_s G=64 live", {"group_size": 64, "simplified": True})
    grpo("grpo_exact live", {"exact": True})
    # no frozen pass at all (no KL, no old policy): what sampling G labels and the loss arithmetic cost
    grpo("grpo_s b=0 G=64", {"group_size": 64, "simplified": True, "beta": 0.0})
    seconds = time_round_robin(entries, batch, args.rounds, args.steps)

    print_ratios(f"model {args.model}, freeze {args.freeze}, batch {args.batch_size} x {args.seconds:g} s, "
                 f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.rounds} rounds x "
                 f"{args.steps} steps", seconds)


if __name__ == "__main__":
    main()
