# Embedded default only: self-supervised pre-training of the small front ends on real speech, then
# supervised post-training of front end + head on the post-training pool. (Real runs import the
# AntiDeepfake checkpoints instead.)


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
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=60,
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
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=4000,
        runtime=60,
    script:
        "scripts/run_stage.py"


# cached one job each: fine-tuning's train and validation sets, and the drift reference if it is no test set
FINETUNE_SETS = [config["finetune"]["train_set"], config["finetune"]["valid_set"]] if "finetune" in config else []
FINETUNE_SETS += [d for d in scored_set_names() if d not in test_set_names() and d not in FINETUNE_SETS]


rule feature_cache:
    """The frozen prefix's outputs for the fine-tuning train or validation set (or the drift reference)
    of one model x initial checkpoint, computed once and read by every method and seed."""
    input:
        checkpoint=f"{DATA}/models/{{model}}/{{init}}.safetensors",
        stores=lambda wc: [store_path(wc.dataset)],
        code=MODEL_CODE + STAGE_CODE + src("models/feature_cache.py"),
    output:
        features=[f"{DATA}/features/{{model}}/{{init}}/{{dataset}}.h5"],
    params:
        model=lambda wc: config["models"][wc.model],
        freeze=config["finetune"]["freeze"] if "finetune" in config else "none",
    log:
        "logs/features/{model}/{init}/{dataset}.log",
    wildcard_constraints:
        init="pretrained|posttrained",
        dataset="|".join(FINETUNE_SETS) or "none",
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=3000,
        runtime=30,
    script:
        "scripts/run_stage.py"


rule feature_cache_tests:
    """The same for every scored test set in one job (short jobs: start-up would dominate). Train and
    validation caches are separate jobs, so a changed test set never reruns fine-tuning."""
    input:
        checkpoint=f"{DATA}/models/{{model}}/{{init}}.safetensors",
        stores=[store_path(d) for d in test_set_names()],
        code=MODEL_CODE + STAGE_CODE + src("models/feature_cache.py"),
    output:
        features=[f"{DATA}/features/{{model}}/{{init}}/{d}.h5" for d in test_set_names()],
    params:
        model=lambda wc: config["models"][wc.model],
        freeze=config["finetune"]["freeze"] if "finetune" in config else "none",
    log:
        "logs/features/{model}/{init}/tests.log",
    wildcard_constraints:
        init="pretrained|posttrained",
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=3000,
        runtime=60,
    script:
        "scripts/run_stage.py"
