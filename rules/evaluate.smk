# Scoring per run x test set, then EER aggregation into the paper's Table 1 layout.


rule score:
    """Scores CSV (ID, label, score = real logit, P(real), both logits) and pooled embeddings (HDF5)."""
    input:
        checkpoint=scored_checkpoint,
        data=lambda wc: features(wc.model, method_cfg(wc.method)["init"], wc.dataset),
        code=MODEL_CODE + src("scoring.py"),
    output:
        scores=f"{RUNS}/{{model}}/{{method}}/seed{{seed}}/scores/{{dataset}}.csv",
        embeddings=f"{RUNS}/{{model}}/{{method}}/seed{{seed}}/embeddings/{{dataset}}.h5",
    params:
        freeze=config["finetune"]["freeze"] if "finetune" in config else "none",
        batch_size=config["finetune"]["batch_size"] if "finetune" in config else 16,
        device=config.get("device", "cpu"),
    log:
        "logs/runs/{model}/{method}/seed{seed}/score_{dataset}.log",
    wildcard_constraints:
        seed=r"\d+",
    group:
        "scoring"
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=2000,
        runtime=20,
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
