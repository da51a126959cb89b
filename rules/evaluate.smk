# Scoring per run x test set, then EER aggregation into the paper's Table 1 layout.


rule score:
    """Every seed of one (model, method) on every test set: a scores CSV per run x set (ID, label,
    score = real logit, P(real), both logits) and pooled last-layer embeddings (HDF5). One job per
    (model, method), not per run x set: on the embedded default a job's start-up (importing torch
    and transformers) costs more than scoring a set, and fine-tuning never depends on these
    outputs, so a changed test set reruns scoring only."""
    input:
        checkpoints=scored_checkpoints,
        data=lambda wc: [features(wc.model, base_init(config, wc.method), d) for d in scored_set_names()],
        code=MODEL_CODE + STAGE_CODE + src("scoring.py"),
    output:
        scores=[f"{RUNS}/{{model}}/{{method}}/seed{s}/scores/{d}.csv"
                for s in config["finetune"]["seeds"] for d in scored_set_names()],
        embeddings=[f"{RUNS}/{{model}}/{{method}}/seed{s}/embeddings/{d}.h5"
                    for s in config["finetune"]["seeds"] for d in scored_set_names()],
    params:
        freeze=config["finetune"]["freeze"] if "finetune" in config else "none",
        batch_size=config["finetune"]["batch_size"] if "finetune" in config else 16,
        device=config.get("device", "cpu"),
    log:
        "logs/runs/{model}/{method}/score.log",
    benchmark:
        "logs/benchmarks/runs/{model}/{method}/score.tsv"
    wildcard_constraints:
        method=method_pattern(True),
    group:
        "scoring"
    threads: 1
    resources:
        gpu=GPU,
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


use rule score as score_initial with:
    output:
        scores=[f"{RUNS}/{{model}}/{{method}}/seed0/scores/{d}.csv" for d in scored_set_names()],
        embeddings=[f"{RUNS}/{{model}}/{{method}}/seed0/embeddings/{d}.h5" for d in scored_set_names()],
    wildcard_constraints:
        method=method_pattern(False),


rule table1:
    """EER per run x test set (results/eer_long.csv, both scores) and the paper's Table 1 (mean over
    seeds) on the paper's score, the real logit (table1.csv), and on the authors' evaluation score,
    softmax P(real) (table1_preal.csv)."""
    input:
        scores=all_scores(),
        code=src("metrics.py", "tables.py"),
    output:
        eer_long="results/eer_long.csv",
        table=report("results/table1.csv", caption="../report/table1.rst", category="Tables"),
        table_preal=report("results/table1_preal.csv", caption="../report/table1_preal.rst", category="Tables"),
    params:
        test_sets=config["test_sets"],
        model_labels=MODEL_LABELS,
        methods=[m for m in config.get("methods", {}) if method_cfg(m)["loss"] in TABLE1_LOSSES],
    log:
        "logs/table1.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"
