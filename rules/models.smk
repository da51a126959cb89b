# The starting checkpoints data/models/<model>/{pretrained,posttrained}.safetensors. Embedded default:
# self-supervised pre-training of the small front ends on real speech, then supervised post-training of
# front end + head on the post-training pool. A model listed under `checkpoints:` (config/paper.yaml) is
# imported instead (import_checkpoint: the AntiDeepfake post-trained detector and the SSL front end), and
# pretrain/posttrain never match it: each model's files have exactly one producing rule.

IMPORTED_MODELS = list(config.get("checkpoints", {}))
BUILT_MODELS = [model for model in config.get("models", {}) if model not in IMPORTED_MODELS]


def alternation(names):
    """A wildcard constraint matching exactly these names (none: a pattern that never matches)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def checkpoint_source(wildcards):
    """The file to import for a model's pretrained/posttrained checkpoint (marked ancient: a touched
    download reruns nothing; a changed path does)."""
    entry = config["checkpoints"][wildcards.model]
    if wildcards.init not in entry:
        raise ValueError(f"checkpoints.{wildcards.model}.{wildcards.init} is not set, but "
                         f"{DATA}/models/{wildcards.model}/{wildcards.init}.safetensors is needed")
    return ancient(entry[wildcards.init])


def import_mem_mb(wildcards):
    """Three float32 copies of the front end (random init, file, converted) plus 2 GB; from the config
    alone, so that building the DAG never imports torch."""
    cfg = config["models"][wildcards.model]
    hidden, layers, ffn = cfg["hidden_size"], cfg["num_layers"], cfg["intermediate_size"]
    parameters = layers * (4 * hidden * hidden + 2 * hidden * ffn)
    return 2000 + int(3 * 4 * parameters / 1e6)


rule import_checkpoint:
    """A released checkpoint in our safetensors format: posttrained = AntiDeepfake's post-trained detector
    (.ckpt or model.safetensors), pretrained = the SSL front end (safetensors, or a plain state-dict .bin;
    fairseq .pt files pickle objects and are refused with conversion instructions). The import record
    (layout, dropped pre-training heads, defaulted weights) goes to <init>_import.json."""
    input:
        source=checkpoint_source,
        code=MODEL_CODE + src("models/convert.py", "models/import_checkpoint.py"),
    output:
        checkpoint=f"{DATA}/models/{{model}}/{{init}}.safetensors",
        record=f"{DATA}/models/{{model}}/{{init}}_import.json",
    params:
        model=lambda wc: config["models"][wc.model],
        drop_adapters=lambda wc: config["checkpoints"][wc.model].get("drop_adapters", False),
    log:
        "logs/models/{model}/import_{init}.log",
    benchmark:
        "logs/benchmarks/models/{model}/import_{init}.tsv"
    wildcard_constraints:
        model=alternation(IMPORTED_MODELS),
        init="pretrained|posttrained",
    threads: 2
    resources:
        mem_mb=import_mem_mb,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule pretrain:
    """wav2vec2 contrastive pre-training on the real clips of the pool (no labels used)."""
    input:
        store=store_path(config["pretrain"]["store"]) if "pretrain" in config else [],
        code=MODEL_CODE + STAGE_CODE + src("models/pretrain.py"),
    output:
        checkpoint=f"{DATA}/models/{{model}}/pretrained.safetensors",
    params:
        model=lambda wc: config["models"][wc.model],
        settings=config.get("pretrain"),
        device=config.get("device", "cpu"),
    log:
        "logs/models/{model}/pretrain.log",
    benchmark:
        "logs/benchmarks/models/{model}/pretrain.tsv"
    wildcard_constraints:
        model=alternation(BUILT_MODELS),
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule posttrain:
    """Supervised post-training (SFT) of the pre-trained front end + a new head on the pool."""
    input:
        pretrained=f"{DATA}/models/{{model}}/pretrained.safetensors",
        train=store_path(config["posttrain"]["train_set"]) if "posttrain" in config else [],
        valid=store_path(config["posttrain"]["valid_set"]) if "posttrain" in config else [],
        code=MODEL_CODE + TRAIN_CODE + STAGE_CODE,
    output:
        checkpoint=f"{DATA}/models/{{model}}/posttrained.safetensors",
        log_csv=f"{DATA}/models/{{model}}/posttrain_log.csv",
    params:
        model=lambda wc: config["models"][wc.model],
        settings=config.get("posttrain"),
        device=config.get("device", "cpu"),
    log:
        "logs/models/{model}/posttrain.log",
    benchmark:
        "logs/benchmarks/models/{model}/posttrain.tsv"
    wildcard_constraints:
        model=alternation(BUILT_MODELS),
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


# Frozen-prefix caches, two jobs per model x initial checkpoint (a job's start-up, importing torch and
# transformers, costs seconds, more than caching a small set): the sets fine-tuning reads (train and
# validation: every fine-tuning job needs both, so one job loses nothing) and the sets only scoring
# reads (test sets, drift reference), kept apart so that a changed test set never reruns fine-tuning.
FINETUNE_SETS = list(dict.fromkeys([config["finetune"]["train_set"], config["finetune"]["valid_set"]])) \
    if "finetune" in config else []
SCORED_ONLY_SETS = [d for d in scored_set_names() if d not in FINETUNE_SETS]


def cache_files(datasets):
    return [f"{DATA}/features/{{model}}/{{init}}/{d}.h5" for d in datasets]


rule feature_cache:
    """The frozen prefix's outputs for the fine-tuning train and validation sets of one model x initial
    checkpoint, computed once and read by every method and seed. A changed segmentation of either set
    recomputes both caches (fine-tuning reruns either way)."""
    input:
        checkpoint=f"{DATA}/models/{{model}}/{{init}}.safetensors",
        stores=[store_path(d) for d in FINETUNE_SETS],
        code=MODEL_CODE + STAGE_CODE + src("models/feature_cache.py"),
    output:
        features=cache_files(FINETUNE_SETS),
    params:
        model=lambda wc: config["models"][wc.model],
        freeze=config["finetune"]["freeze"] if "finetune" in config else "none",
    log:
        "logs/features/{model}/{init}/finetune_sets.log",
    benchmark:
        "logs/benchmarks/features/{model}/{init}/finetune_sets.tsv"
    wildcard_constraints:
        init="pretrained|posttrained",
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=3000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule feature_cache_tests:
    """The same for every set only scoring reads: the test sets and the drift reference (unless it is a
    fine-tuning set), in one job."""
    input:
        checkpoint=f"{DATA}/models/{{model}}/{{init}}.safetensors",
        stores=[store_path(d) for d in SCORED_ONLY_SETS],
        code=MODEL_CODE + STAGE_CODE + src("models/feature_cache.py"),
    output:
        features=cache_files(SCORED_ONLY_SETS),
    params:
        model=lambda wc: config["models"][wc.model],
        freeze=config["finetune"]["freeze"] if "finetune" in config else "none",
    log:
        "logs/features/{model}/{init}/tests.log",
    benchmark:
        "logs/benchmarks/features/{model}/{init}/tests.tsv"
    wildcard_constraints:
        init="pretrained|posttrained",
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=3000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"
