"""Why does SFT not lower the target domain's EER on the embedded default? A probe on a finished run.

Issue 17 asks for SFT rows with an in-domain EER at most 0.6 x the post-trained row's. This probe
fine-tunes one model with SFT (one seed) on the run's own cached features under several settings and
reports, for each, the state the paper's protocol keeps (best validation EER on the ASVspoof 2019 LA dev
stand-in, validated every 30 steps) and the final state (validated at the end only), scored on
DFE24 4s and the four out-of-domain sets. `--dfe24 N:LO:HI` also rebuilds the target domain with N real
recordings of LO-HI seconds (more, shorter recordings: more independent training recordings for the
same audio), segments it and repeats the probe on it (test: its own DFE24 4s; out of domain: the run's).

    python benchmarks/sft_target_probe.py --data /path/to/clone/data
    python benchmarks/sft_target_probe.py --data DATA --sweep 1e-3:3 1e-3:10 3e-3:10 --dfe24 150:6:24

Needs the run's data/ (post-trained checkpoints and feature caches); writes only to a temporary folder.
Not a test: minutes of CPU, numbers depend on the machine only through float rounding.
"""

from __future__ import annotations

from deepfake_rl.workflow import pin_numerics

pin_numerics()   # the kernel pins every workflow job sets, before numpy and torch load

import argparse  # noqa: E402
import csv  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from deepfake_rl import stages  # noqa: E402
from deepfake_rl.config import finetune_shared_settings  # noqa: E402
from deepfake_rl.data.segment import DEFAULT_MIN_SECONDS  # noqa: E402
from deepfake_rl.metrics import eer_from_labels  # noqa: E402
from deepfake_rl.models.checkpoint import load_detector, read_checkpoint_metadata  # noqa: E402
from deepfake_rl.scoring import score_dataset  # noqa: E402


def eers(checkpoint: Path, freeze: str, test_sets: dict[str, Path],
         max_batch_seconds: float | None = None) -> dict[str, float]:
    """EER (%) of a checkpoint on each test set (feature cache or waveform store), on the paper's score (the
    real logit); `max_batch_seconds` bounds a batch's padded audio, as the workflow's inference.max_batch_seconds."""
    detector = load_detector(checkpoint, freeze=freeze)
    result = {}
    for name, path in test_sets.items():
        dataset, features = stages.open_inputs(path)
        scores = score_dataset(detector, dataset, inputs_are_features=features, progress=False,
                               max_padded=stages.frames_for(max_batch_seconds, detector.spec, features))
        result[name] = 100 * eer_from_labels(scores.score, scores.labels)
    return result


def kept_step(checkpoint: Path) -> str:
    """"kept/steps" of a trained checkpoint: the step whose state it holds (per the run's keep setting) and the steps run."""
    metadata = read_checkpoint_metadata(checkpoint)
    return f"{metadata['kept_step']}/{metadata['steps']}"


def sft_runs(cfg: dict[str, Any], model: str, seed: int, init: Path, train: Path, valid: Path,
             test_sets: dict[str, Path], sweep: list[str], label: str) -> None:
    """One SFT run per setting and selection rule; prints a table row per run."""
    settings = finetune_shared_settings(cfg["finetune"])
    for setting in sweep:
        lr, epochs = setting.split(":")
        for selection, valid_every in (("best valid", 30), ("final", 10**9)):
            method = {"loss": "sft", "init": "posttrained", "lr": float(lr), "epochs": int(epochs),
                      "valid_every": valid_every, "lr_schedule": {"kind": "constant"}}
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp)
                stages.finetune(model, cfg["models"][model], method, settings, seed, init, train, valid,
                                out / "model.safetensors", out / "log.csv", desc=f"sft {setting}")
                with open(out / "log.csv", encoding="utf-8") as handle:
                    loss = np.mean([float(row["loss"]) for row in list(csv.DictReader(handle))[-10:]])
                result = eers(out / "model.safetensors", settings["freeze"], test_sets)
                kept = kept_step(out / "model.safetensors")
            print_row(label, f"SFT lr {lr}, {epochs} ep", selection, kept, f"{loss:.2f}", result,
                      out_of_domain(cfg))


def out_of_domain(cfg: dict[str, Any]) -> list[str]:
    """The out-of-domain test sets, in Table 1's column order."""
    return list(cfg["test_sets"]["out_of_domain"])


def print_row(label: str, setting: str, selection: str, step: str, loss: str, result: dict[str, float],
              ood_sets: list[str]) -> None:
    ood = np.mean([result[name] for name in ood_sets])
    cells = [label, setting, selection, step, loss, f"{result['dfe24_4s']:.2f}",
             *(f"{result[name]:.2f}" for name in ood_sets), f"{ood:.2f}"]
    print("| " + " | ".join(cells) + " |", flush=True)


def variant_caches(cfg: dict[str, Any], model: str, init: Path, spec: str, work: Path) -> tuple[Path, Path, str]:
    """Rebuild the target domain with N real recordings of LO-HI s; its train and test-4s feature caches."""
    from deepfake_rl.data.embedded.build import build_domain
    from deepfake_rl.data.segment_stage import segment_corpus

    n_real, low, high = spec.split(":")
    recipe = dict(cfg["corpus"]["domains"]["dfe24"])
    recipe["n_real"] = {**recipe["n_real"], "default": int(n_real)}
    seconds = {**recipe["long_recordings"]["seconds"], "default": [float(low), float(high)]}
    recipe["long_recordings"] = {**recipe["long_recordings"], "seconds": seconds}
    corpus = work / "corpus"
    build_domain("dfe24", recipe, size="default", seed=cfg["corpus"]["seed"], output_dir=corpus, workers=2)
    caches = []
    for part in ("train", "test"):
        store, cache = work / f"{part}.h5", work / f"{part}.features.h5"
        segment_corpus(corpus / "manifest.csv", store, proportion=part, max_seconds=4, random_seconds=None,
                       min_seconds=DEFAULT_MIN_SECONDS, seed=cfg["corpus"]["seed"], dataset=f"dfe24_{part}",
                       on_bad_file="error")
        stages.feature_cache(model, cfg["models"][model], "posttrained", init, cfg["finetune"]["freeze"], [store],
                             [cache], max_batch_seconds=cfg.get("inference", {}).get("max_batch_seconds"))
        caches.append(cache)
    return caches[0], caches[1], f"dfe24 {n_real} rec. {low}-{high} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the finished run's data/ folder")
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--model", default="xlsr_2b")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sweep", nargs="+", default=["1e-3:3", "1e-3:10", "3e-3:10"], help="lr:epochs of SFT")
    parser.add_argument("--dfe24", help="N:LO:HI: also probe a target domain of N recordings of LO-HI seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = yaml.safe_load(args.config.read_text())
    features = args.data / "features" / args.model / "posttrained"
    init = args.data / "models" / args.model / "posttrained.safetensors"
    valid = features / f"{cfg['finetune']['valid_set']}.h5"
    ood = {name: features / f"{name}.h5" for name in out_of_domain(cfg)}
    print("| target domain | setting | kept state | kept step/steps | train loss (last 10) | DFE24 4s | "
          + " | ".join(name.upper() for name in out_of_domain(cfg)) + " | OOD avg |")
    print("|" + "---|" * 11)
    default_sets = {"dfe24_4s": features / "dfe24_4s.h5", **ood}
    print_row("default", "post-trained", "-", "-", "-", eers(init, cfg["finetune"]["freeze"], default_sets),
              out_of_domain(cfg))
    sft_runs(cfg, args.model, args.seed, init, features / f"{cfg['finetune']['train_set']}.h5", valid,
             default_sets, args.sweep, "default")
    if args.dfe24:
        with tempfile.TemporaryDirectory() as tmp:
            train, test, label = variant_caches(cfg, args.model, init, args.dfe24, Path(tmp))
            variant_sets = {"dfe24_4s": test, **ood}
            print_row(label, "post-trained", "-", "-", "-", eers(init, cfg["finetune"]["freeze"], variant_sets),
                      out_of_domain(cfg))
            sft_runs(cfg, args.model, args.seed, init, train, valid, variant_sets, args.sweep[:2], label)


if __name__ == "__main__":
    main()
