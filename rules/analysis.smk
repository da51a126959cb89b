# Beyond EER: detection metrics, uncertainty, drift (paper section 3.4, Fig. 2) and figures. Every
# rule here is torch-free and local: seconds of work on the scores and embeddings of all runs.


def all_embeddings():
    """Embeddings of every run on every test set and on the drift reference."""
    return [f"{run_dir(model, method, seed)}/embeddings/{dataset}.h5"
            for model, method in grid() for seed in seeds(method) for dataset in scored_set_names()]


def recording_stores():
    """The test sets' stores (each segment's recording) where the bootstrap draws recordings, the schema's
    default; none where it draws utterances."""
    by_recording = config.get("uncertainty", {}).get("resample", "recordings") == "recordings"
    return [store_path(dataset) for dataset in test_set_names()] if by_recording else []


ANALYSIS_CODE = src("tables.py", "metrics.py")


rule metrics:
    """EER, minDCF and actDCF (ASVspoof 5 costs), Cllr, AUC and ACC per run x test set, on the paper's
    score (real logit) and on P(real) (the *_preal columns)."""
    input:
        scores=all_scores(),
        code=ANALYSIS_CODE,
    output:
        report("results/metrics_long.csv", caption="../report/metrics.rst", category="Tables"),
    log:
        "logs/analysis/metrics.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule uncertainty:
    """Bootstrap EER intervals per run x test set, intervals over seeds, paired tests between methods."""
    input:
        scores=all_scores(),
        stores=recording_stores(),
        code=ANALYSIS_CODE + src("uncertainty.py", "data/store.py"),
    output:
        intervals="results/eer_intervals.csv",
        seeds="results/eer_seed_intervals.csv",
        significance=report("results/significance.csv", caption="../report/significance.rst", category="Tables"),
    params:
        settings=config.get("uncertainty", {}),
        test_sets=config["test_sets"],
    log:
        "logs/analysis/uncertainty.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule drift:
    """Wasserstein distance (W1, or sliced when asked for) between the FAKE utterances' embeddings of
    each test set and of the reference set, per run (each run's own embedding space), with its spread
    over subsamples, and its mean and spread over seeds."""
    input:
        embeddings=all_embeddings(),
        code=src("drift.py", "io_utils.py"),
    output:
        long="results/drift.csv",
        summary="results/drift_summary.csv",
    params:
        settings={k: v for k, v in config.get("drift", {}).items() if k != "figures"},
    log:
        "logs/analysis/drift.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule drift_figure:
    """Fig. 2: drift profiles across the test sets for the configured methods of one model."""
    input:
        summary="results/drift_summary.csv",
        code=src("figures.py"),
    output:
        report("results/figures/{profile}.png", caption="../report/drift_figure.rst", category="Figures",
               labels={"figure": "{profile}"}),
    params:
        figure=lambda wc: config["drift"]["figures"][wc.profile],
        test_sets=config["test_sets"],
        model_labels=MODEL_LABELS,
    log:
        "logs/analysis/{profile}.log",
    wildcard_constraints:
        profile="|".join(config.get("drift", {}).get("figures", {})) or "(?!)",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule table1_heatmap:
    """Table 1 as a heat-map: darker = higher EER, like the paper's shading."""
    input:
        table="results/table1.csv",
        code=src("figures.py"),
    output:
        report("results/figures/table1_heatmap.png", caption="../report/table1_heatmap.rst", category="Figures"),
    log:
        "logs/analysis/table1_heatmap.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


def analysis_outputs():
    figures = [f"results/figures/{name}.png" for name in config.get("drift", {}).get("figures", {})]
    drift = ["results/drift.csv", *figures] if "drift" in config else []
    table2 = ["results/table2.csv", "results/figures/hard_samples.png"] if "table2" in config else []
    return ["results/metrics_long.csv", "results/significance.csv", "results/figures/table1_heatmap.png", *drift,
            *table2]


rule table2:
    """TSRL's Table 2 layout: AUC, ACC and EER of SFT, CL, TSRL (and GRPO) on the out-of-domain sets."""
    input:
        metrics="results/metrics_long.csv",
        code=src("tables.py"),
    output:
        report("results/table2.csv", caption="../report/table2.rst", category="Tables"),
    params:
        settings=config.get("table2"),
        test_sets=config["test_sets"],
        model_labels=MODEL_LABELS,
    log:
        "logs/analysis/table2.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


def table2_logs():
    """Training logs of the Table 2 methods that run (SFT, CL, TSRL; GRPO logs no hard-sample fraction)."""
    methods = config.get("table2", {}).get("methods", {})
    return [f"{run_dir(model, method, seed)}/train_log.csv"
            for model, method in grid() if method in methods and trained(method) for seed in seeds(method)]


rule hard_samples:
    """TSRL Fig. 1: fraction of training samples with EMA loss > 0.7 per epoch, from the training logs."""
    input:
        logs=table2_logs(),
        code=src("figures.py", "train/logs.py"),
    output:
        report("results/figures/hard_samples.png", caption="../report/hard_samples.rst", category="Figures"),
    params:
        methods={m: label for m, label in config.get("table2", {}).get("methods", {}).items() if m != "grpo"},
        model_labels=MODEL_LABELS,
    log:
        "logs/analysis/hard_samples.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule environment:
    """results/environment.json: CPU model, load, OS, Python, torch and package versions, the corpus tools'
    versions and the commit; its inputs are the tables, so it is rewritten with them and describes the
    machine that made them (issue 17: tables differ between machines)."""
    input:
        tables=rules.table1.output,
        table2=rules.table2.output if "table2" in config else [],
        code=src("environment.py"),
    output:
        "results/environment.json",
    params:
        corpus=f"{DATA}/corpus",   # the corpus content hashes recorded beside its manifests, where they exist
        dataset_domains={name: spec["domain"] for name, spec in config["datasets"].items()},
    log:
        "logs/analysis/environment.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule results_page:
    """docs/results.md, the markdown tables of results/ (python -m deepfake_rl results-page). Not in the
    default target, since docs/ is versioned: `snakemake docs/results.md` writes it on request."""
    input:
        tables=rules.table1.output,
        environment="results/environment.json",
        uncertainty=rules.uncertainty.output,
        table2=rules.table2.output if "table2" in config else [],
        drift=rules.drift.output if "drift" in config else [],
        code=src("results_page.py"),
    output:
        "docs/results.md",
    log:
        "logs/analysis/results_page.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"
