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
                   "data/manifest.py")


def dataset_spec(wildcards):
    """The dataset's segmentation parameters (a params: lookup, so edits rerun only its store)."""
    spec = dict(config["datasets"][wildcards.dataset])
    spec.setdefault("max_seconds", None)
    spec.setdefault("min_seconds", 0.0)
    return spec


def dataset_corpus(wildcards):
    return f"{DATA}/corpus/{config['datasets'][wildcards.dataset]['domain']}"


def test_set_names():
    return [*config["test_sets"]["in_domain"], *config["test_sets"]["out_of_domain"]]


def store_path(dataset):
    return f"{DATA}/stores/{dataset}.h5"
