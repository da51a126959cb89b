# Fine-tuning per model x method x seed: one rule, one loop, the method chosen by the wildcard.
# Two-stage methods (SFT -> GRPO) start from their `init` method's run of the same seed, so the
# SFT stage is the `sft` run itself, trained once.


rule finetune:
    """Fine-tune from the method's starting checkpoint; keep the best state by validation EER."""
    input:
        unpack(finetune_inputs),
        train=method_features(config["finetune"]["train_set"]),
        valid=method_features(config["finetune"]["valid_set"]),
        code=lambda wc: MODEL_CODE + TRAIN_CODE + STAGE_CODE + method_code(wc.method),
    output:
        checkpoint=f"{RUNS}/{{model}}/{{method}}/seed{{seed}}/model.safetensors",
        log_csv=f"{RUNS}/{{model}}/{{method}}/seed{{seed}}/train_log.csv",
    params:
        model=lambda wc: config["models"][wc.model],
        method=lambda wc: method_cfg(wc.method),
        # shared data settings only: seeds are wildcards, schedule defaults reach jobs through `method`
        settings=finetune_shared_settings(config["finetune"]),
        device=config.get("device", "cpu"),
    log:
        "logs/runs/{model}/{method}/seed{seed}/finetune.log",
    benchmark:
        "logs/benchmarks/runs/{model}/{method}/seed{seed}/finetune.tsv"
    wildcard_constraints:
        seed=r"\d+",
        method=method_pattern(True),
    threads: 1 + config["finetune"].get("loader_workers", 0)   # the training process + its data workers
    resources:
        gpu=GPU,
        mem_mb=3000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"
