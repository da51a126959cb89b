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

`--seeds` post-trains each setting with several seeds (`posttrain.seed`: the new head, batch order and
crops; the workflow uses 0). Every fine-tuned row and every comparison with "none" rests on the one
post-trained detector per model, so the spread over seeds is what that one draw can be off by:

    python benchmarks/posttrain_probe.py --data ... --model mms_300m --sweep 5e-4:7 --seeds 0 1 2

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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="post-training seeds (the workflow's: 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the workflow's post-training uses 2)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(args.config.read_text())
    stores = args.data / "stores"
    posttrain = cfg["posttrain"]
    in_domain, out_of_domain = list(cfg["test_sets"]["in_domain"]), list(cfg["test_sets"]["out_of_domain"])
    test_sets = {name: stores / f"{name}.h5" for name in (*in_domain, *out_of_domain)}
    print("| lr | epochs | seed | kept step/steps | pool valid EER | " + " | ".join(test_sets)
          + " | in-domain avg | OOD avg |")
    print("|" + "---|" * (len(test_sets) + 7))
    averages: dict[str, list[tuple[float, float]]] = {}
    for setting in args.sweep:
        lr, epochs, *steps = setting.split(":")
        for seed in args.seeds:
            settings = {**posttrain, "lr": float(lr), "epochs": int(epochs), "seed": seed,
                        **({"max_steps": int(steps[0])} if steps else {})}
            result, kept, valid_eer = probe(args.model, cfg, settings, args.data, test_sets)
            pair = (float(np.mean([result[name] for name in in_domain])),
                    float(np.mean([result[name] for name in out_of_domain])))
            averages.setdefault(setting, []).append(pair)
            cells = [lr, epochs, str(seed), kept, f"{100 * valid_eer:.1f}",
                     *(f"{result[name]:.2f}" for name in test_sets), f"{pair[0]:.2f}", f"{pair[1]:.2f}"]
            print("| " + " | ".join(cells) + " |", flush=True)
    for setting, pairs in averages.items():
        if len(pairs) > 1:
            spread = np.asarray(pairs)
            print(f"{setting} over seeds {args.seeds}: in-domain avg {spread[:, 0].mean():.2f} "
                  f"(s.d. {spread[:, 0].std(ddof=1):.2f}, range {np.ptp(spread[:, 0]):.2f}), OOD avg "
                  f"{spread[:, 1].mean():.2f} (s.d. {spread[:, 1].std(ddof=1):.2f}, range {np.ptp(spread[:, 1]):.2f})")


def probe(model: str, cfg: dict, settings: dict, data: Path, test_sets: dict[str, Path]
          ) -> tuple[dict[str, float], str, float]:
    """Post-train `model` with `settings` into a temporary folder; its EER (%) per test set, kept step
    ("kept/steps") and kept validation EER."""
    stores = data / "stores"
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "posttrained.safetensors"
        stages.posttrain(model, cfg["models"][model], settings, data / "models" / model / "pretrained.safetensors",
                         stores / f"{settings['train_set']}.h5", stores / f"{settings['valid_set']}.h5",
                         checkpoint, Path(tmp) / "log.csv")
        # waveforms scored in batches of bounded padded audio, as the workflow computes its prefix caches
        result = eers(checkpoint, "none", test_sets, cfg.get("inference", {}).get("max_batch_seconds"))
        return result, kept_step(checkpoint), read_checkpoint_metadata(checkpoint)["kept_valid_eer"]

if __name__ == "__main__":
    main()
