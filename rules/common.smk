# Helpers shared by the rule files: paths, config lookups, and the source modules each stage
# depends on (Snakemake does not track modules imported by a script, so they are declared inputs).

from pathlib import Path

DATA = config["data_dir"]
SRC = Path(workflow.basedir) / "src" / "deepfake_rl"


def src(*modules):
    """Source files of deepfake_rl a rule depends on, as inputs: editing them reruns that rule."""
    return [str(SRC / module) for module in modules]


CORPUS_CODE = src("data/embedded.py", "data/attacks.py", "data/channels.py", "data/prompts.py",
                  "data/audio_io.py", "data/manifest.py", "seeding.py")
SEGMENT_CODE = src("data/segment.py", "data/segment_stage.py", "data/store.py", "data/audio_io.py",
                   "data/manifest.py", "seeding.py")


def dataset_spec(wildcards):
    """The dataset's segmentation parameters (a params: lookup, so edits rerun only its store)."""
    spec = dict(config["datasets"][wildcards.dataset])
    spec.setdefault("max_seconds", None)
    spec.setdefault("min_seconds", 0.0)
    return spec


def dataset_corpus(wildcards):
    return f"{DATA}/corpus/{config['datasets'][wildcards.dataset]['domain']}"


def test_set_names():
    """Every scored dataset: Table 1's columns, then the others (kept in eer_long.csv only)."""
    groups = config["test_sets"]
    return [*groups["in_domain"], *groups["out_of_domain"], *groups.get("other", {})]


def store_path(dataset):
    return f"{DATA}/stores/{dataset}.h5"


# ---- models, fine-tuning and evaluation -------------------------------------------------------

RUNS = "results/runs"
ON_GPU = str(config.get("device", "cpu")).startswith("cuda")
GPU = 1 if ON_GPU else 0  # declared by GPU rules, so `--resources gpu=N` caps concurrent GPU jobs

MODEL_CODE = src("models/spec.py", "models/detector.py", "models/checkpoint.py", "data/dataset.py")
TRAIN_CODE = src("train/loop.py", "scoring.py", "metrics.py", "methods/base.py", "methods/__init__.py")
STAGE_CODE = src("stages.py")  # workflow.py (argument plumbing only) is deliberately not tracked


def grid():
    """(model, method) pairs to run, from config `grid`."""
    return [(model, method) for model, names in config.get("grid", {}).items() for method in names]


def method_cfg(method):
    return config["methods"][method]


def method_code(method):
    """The source module of a method's loss family: editing it reruns that method's jobs only."""
    loss = method_cfg(method)["loss"]
    return [] if loss == "none" else src(f"methods/{loss}.py")


def seeds(method):
    """Fine-tuned methods run once per seed; `none` (the initial checkpoint itself) once."""
    return [0] if method_cfg(method)["loss"] == "none" else config["finetune"]["seeds"]


def init_checkpoint(wildcards):
    return f"{DATA}/models/{wildcards.model}/{method_cfg(wildcards.method)['init']}.safetensors"


def uses_cache():
    return config["finetune"]["freeze"] != "none"


def features(model, init, dataset):
    """The trainable part's input for a dataset: the frozen-prefix cache, or the waveform store."""
    return f"{DATA}/features/{model}/{init}/{dataset}.h5" if uses_cache() else store_path(dataset)


def method_features(dataset):
    def lookup(wildcards):
        return features(wildcards.model, method_cfg(wildcards.method)["init"], dataset)

    return lookup


def run_dir(model, method, seed):
    return f"{RUNS}/{model}/{method}/seed{seed}"


def scored_checkpoint(wildcards):
    """A fine-tuned run's best checkpoint, or the initial checkpoint for method `none`."""
    if method_cfg(wildcards.method)["loss"] == "none":
        return init_checkpoint(wildcards)
    return f"{run_dir(wildcards.model, wildcards.method, wildcards.seed)}/model.safetensors"


def all_scores():
    return [f"{run_dir(model, method, seed)}/scores/{dataset}.csv"
            for model, method in grid() for seed in seeds(method) for dataset in test_set_names()]
