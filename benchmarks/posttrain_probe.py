"""Does longer or faster post-training bring a stand-in's out-of-domain EER down? A probe on a finished run.

Issue 17 asks for post-trained rows (1, 13, 17) with an out-of-domain average of at most 8 %; the
MMS-300M stand-in's row 17 is at 10.1 %. Post-training is part of building the stand-in (not of any
fine-tuning method), so its length and rate are settings that may be tuned. This probe post-trains one
model from the run's own pre-trained front end under each `lr:epochs` (everything else as in the
config, including which state is kept: `posttrain.keep`) and scores it on the five DFE24 cuts and the
four out-of-domain stores. The config's own setting reproduces the run's row.

    python benchmarks/posttrain_probe.py --data /path/to/clone/data --model mms_300m \
        --sweep 5e-4:7 5e-4:10 5e-4:14 1e-3:7 2e-4:14

`lr:epochs:steps` stops after that many steps (with keep final: the state the full run passes through at
that step, the same trajectory), e.g. the states a run validated, to see which one another machine kept:

    python benchmarks/posttrain_probe.py --data ... --model xlsr_2b --sweep 5e-4:7:120 5e-4:7:160 5e-4:7:168

Needs the run's data/ (pre-trained checkpoints and waveform stores); writes only to a temporary folder.
Not a test: minutes of CPU per setting (2 threads), numbers depend on the machine only through float rounding.
"""

from __future__ import annotations

from deepfake_rl.workflow import pin_numerics

pin_numerics()   # the kernel pins every workflow job sets, before numpy and torch load

import argparse  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from deepfake_rl import stages  # noqa: E402
from deepfake_rl.models.checkpoint import read_checkpoint_metadata  # noqa: E402
from sft_target_probe import eers, kept_step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the finished run's data/ folder")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--model", default="mms_300m")
    parser.add_argument("--sweep", nargs="+", default=["5e-4:7", "5e-4:10", "1e-3:7"],
                        help="lr:epochs[:steps] of post-training")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the workflow's post-training uses 2)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(args.config.read_text())
    stores = args.data / "stores"
    posttrain = cfg["posttrain"]
    in_domain, out_of_domain = list(cfg["test_sets"]["in_domain"]), list(cfg["test_sets"]["out_of_domain"])
    test_sets = {name: stores / f"{name}.h5" for name in (*in_domain, *out_of_domain)}
    print("| lr | epochs | kept step/steps | pool valid EER | " + " | ".join(test_sets)
          + " | in-domain avg | OOD avg |")
    print("|" + "---|" * (len(test_sets) + 6))
    for setting in args.sweep:
        lr, epochs, *steps = setting.split(":")
        settings = {**posttrain, "lr": float(lr), "epochs": int(epochs),
                    **({"max_steps": int(steps[0])} if steps else {})}
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = Path(tmp) / "posttrained.safetensors"
            stages.posttrain(args.model, cfg["models"][args.model], settings,
                             args.data / "models" / args.model / "pretrained.safetensors",
                             stores / f"{posttrain['train_set']}.h5", stores / f"{posttrain['valid_set']}.h5",
                             checkpoint, Path(tmp) / "log.csv")
            # waveforms scored in batches of bounded padded audio, as the workflow computes its prefix caches
            result = eers(checkpoint, "none", test_sets, cfg.get("inference", {}).get("max_batch_seconds"))
            kept, valid_eer = kept_step(checkpoint), read_checkpoint_metadata(checkpoint)["kept_valid_eer"]
        cells = [lr, epochs, kept, f"{100 * valid_eer:.1f}", *(f"{result[name]:.2f}" for name in test_sets),
                 f"{np.mean([result[name] for name in in_domain]):.2f}",
                 f"{np.mean([result[name] for name in out_of_domain]):.2f}"]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
