# Scoring per run x test set, then EER aggregation into the paper's Table 1 layout.


rule score:
    """One run on every test set: a scores CSV per set (ID, label, score = real logit, P(real), both
    logits) and pooled last-layer embeddings (HDF5). One job per run, not per run x set: on the
    embedded default a job's start-up (importing torch and transformers) costs more than scoring a
    set, and fine-tuning never depends on these outputs, so a changed test set reruns scoring only."""
    input:
        checkpoint=scored_checkpoint,
        data=lambda wc: [features(wc.model, method_cfg(wc.method)["init"], d) for d in test_set_names()],
        code=MODEL_CODE + STAGE_CODE + src("scoring.py"),
    output:
        scores=[f"{RUNS}/{{model}}/{{method}}/seed{{seed}}/scores/{d}.csv" for d in test_set_names()],
        embeddings=[f"{RUNS}/{{model}}/{{method}}/seed{{seed}}/embeddings/{d}.h5" for d in test_set_names()],
    params:
        freeze=config["finetune"]["freeze"] if "finetune" in config else "none",
        batch_size=config["finetune"]["batch_size"] if "finetune" in config else 16,
        device=config.get("device", "cpu"),
    log:
        "logs/runs/{model}/{method}/seed{seed}/score.log",
    wildcard_constraints:
        seed=r"\d+",
    group:
        "scoring"
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=2000,
        runtime=30,
    script:
        "scripts/run_stage.py"


rule table1:
    """EER per run x test set (results/eer_long.csv) and the paper's Table 1 (mean over seeds)."""
    input:
        scores=all_scores(),
        code=src("metrics.py", "tables.py"),
    output:
        eer_long="results/eer_long.csv",
        table="results/table1.csv",
    params:
        test_sets=config["test_sets"],
        model_labels={key: cfg["label"] for key, cfg in config.get("models", {}).items()},
        runs=RUNS,
    log:
        "logs/table1.log",
    localrule: True
    script:
        "scripts/run_stage.py"
