# Helpers shared by the rule files: paths, config lookups, and the source modules each stage
# depends on (Snakemake does not track modules imported by a script, so they are declared inputs).

import os
import re
from pathlib import Path

from deepfake_rl.config import BASE_INITS, base_init, finetune_shared_settings, method_settings
from deepfake_rl.data.segment import DEFAULT_MIN_SECONDS

DATA = config["data_dir"]
# relative to the working directory: Snakemake reruns a job whose *set* of input paths changed, so absolute
# code paths would rerun every job of a checkout that was moved or copied with its results
SRC = Path(os.path.relpath(workflow.basedir)) / "src" / "deepfake_rl"


def src(*modules):
    """Source files of deepfake_rl a rule depends on, as inputs: editing them reruns that rule."""
    return [str(SRC / module) for module in modules]


CORPUS_CODE = src("data/embedded/build.py", "data/embedded/attacks.py", "data/embedded/channels.py",
                  "data/embedded/prompts.py", "data/embedded/tools.py", "data/content_hash.py", "data/audio_io.py",
                  "data/media.py", "data/manifest.py", "seeding.py")
SEGMENT_CODE = src("data/segment.py", "data/segment_stage.py", "data/store.py", "data/audio_io.py",
                   "data/media.py", "data/manifest.py", "data/bad_files.py", "seeding.py")


def dataset_spec(wildcards):
    """The dataset's segmentation parameters (a params: lookup, so edits rerun only its store)."""
    spec = dict(config["datasets"][wildcards.dataset])
    spec.setdefault("max_seconds", None)
    spec.setdefault("min_seconds", DEFAULT_MIN_SECONDS)
    return spec


def dataset_corpus(wildcards):
    return f"{DATA}/corpus/{config['datasets'][wildcards.dataset]['domain']}"


def test_set_names():
    """Every scored dataset: Table 1's columns, then the others (kept in eer_long.csv only)."""
    groups = config["test_sets"]
    return [*groups["in_domain"], *groups["out_of_domain"], *groups.get("other", {})]


def drift_reference():
    return config["drift"]["reference"] if "drift" in config else None


def scored_set_names():
    """The test sets, plus the drift reference set (scored for its embeddings, not in the tables)."""
    names = test_set_names()
    reference = drift_reference()
    return names + [reference] if reference and reference not in names else names


def store_path(dataset):
    return f"{DATA}/stores/{dataset}.h5"


# ---- models, fine-tuning and evaluation -------------------------------------------------------

RUNS = "results/runs"
ON_GPU = str(config.get("device", "cpu")).startswith("cuda")
GPU = 1 if ON_GPU else 0  # declared by GPU rules, so `--resources gpu=N` caps concurrent GPU jobs

# the software of every job for `--sdm conda` users (relative to rules/); ignored without --sdm conda
CONDA_ENV = "../envs/deepfake-rl.yaml"

MODEL_CODE = src("models/spec.py", "models/detector.py", "models/checkpoint.py", "data/dataset.py")
TRAIN_CODE = src("train/loop.py", "train/resume.py", "train/lr_schedule.py", "data/batching.py", "data/rawboost.py",
                 "scoring.py", "metrics.py", "methods/base.py", "methods/__init__.py")
STAGE_CODE = src("stages.py")  # workflow.py (argument plumbing only) is deliberately not tracked


MODEL_LABELS = {key: cfg["label"] for key, cfg in config.get("models", {}).items()}  # what tables print
TABLE1_LOSSES = ("none", "sft", "grpo")  # the GRPO paper's Table 1; TSRL's methods go to Table 2


def grid():
    """(model, method) pairs to run, from config `grid`."""
    return [(model, method) for model, names in config.get("grid", {}).items() for method in names]


def method_cfg(method):
    """A method's full settings (finetune schedule defaults < its family's block < its own entry)."""
    return method_settings(config, method)


def trained(method):
    return method_cfg(method)["loss"] != "none"


def method_code(method):
    """The source module of a method's loss family: editing it reruns that method's jobs only
    (and those of methods starting from its runs)."""
    cfg = method_cfg(method)
    own = src(f"methods/{cfg['loss']}.py") if trained(method) else []
    return own + (method_code(cfg["init"]) if cfg["init"] not in BASE_INITS else [])


def seeds(method):
    """Fine-tuned methods run once per seed; `none` (the initial checkpoint itself) once, as seed 0."""
    return config["finetune"]["seeds"] if trained(method) else [0]


def run_dir(model, method, seed):
    return f"{RUNS}/{model}/{method}/seed{seed}"


def start_checkpoint(model, method, seed):
    """Where a method starts: a base checkpoint, or its `init` method's run of the same seed."""
    init = method_cfg(method)["init"]
    if init in BASE_INITS:
        return f"{DATA}/models/{model}/{init}.safetensors"
    return f"{run_dir(model, init, seed)}/model.safetensors"


def finetune_inputs(wildcards):
    """The starting checkpoint, and the post-trained model when it is the KL reference of a method
    that starts elsewhere (SFT -> GRPO with `reference: posttrained`)."""
    inputs = {"init": start_checkpoint(wildcards.model, wildcards.method, wildcards.seed)}
    cfg = method_cfg(wildcards.method)
    if cfg.get("reference", "init") == "posttrained" and cfg["init"] != "posttrained":
        inputs["reference"] = f"{DATA}/models/{wildcards.model}/posttrained.safetensors"
    return inputs


def uses_cache():
    return config["finetune"]["freeze"] != "none"


def features(model, init, dataset):
    """The trainable part's input for a dataset: the frozen-prefix cache, or the waveform store."""
    return f"{DATA}/features/{model}/{init}/{dataset}.h5" if uses_cache() else store_path(dataset)


def method_features(dataset):
    def lookup(wildcards):
        return features(wildcards.model, base_init(config, wildcards.method), dataset)

    return lookup


def scored_checkpoints(wildcards):
    """Each seed's best checkpoint of a fine-tuned method, or the initial checkpoint for `none`."""
    if not trained(wildcards.method):
        return [start_checkpoint(wildcards.model, wildcards.method, 0)]
    return [f"{run_dir(wildcards.model, wildcards.method, seed)}/model.safetensors" for seed in seeds(wildcards.method)]


def all_scores():
    return [f"{run_dir(model, method, seed)}/scores/{dataset}.csv"
            for model, method in grid() for seed in seeds(method) for dataset in test_set_names()]


def method_pattern(want_trained):
    """A wildcard constraint matching the trained (or the untrained) methods of the config."""
    names = [re.escape(m) for m in config.get("methods", {}) if trained(m) == want_trained]
    return "|".join(names) if names else "(?!)"
