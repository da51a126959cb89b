# Embedded corpus (offline) -> manifest per domain -> segmentation into HDF5 waveform stores.


rule build_domain:
    """Real prompts, their fakes and the domain's channel: audio/*.wav plus manifest.csv."""
    input:
        code=CORPUS_CODE,
    output:
        corpus=directory(f"{DATA}/corpus/{{domain}}"),
    params:
        recipe=lambda wc: config["corpus"]["domains"][wc.domain],
        size=config["corpus"]["size"],
        seed=config["corpus"]["seed"],
    log:
        "logs/corpus/{domain}.log",
    benchmark:
        "logs/benchmarks/corpus/{domain}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "scripts/run_stage.py"


rule segment:
    """One dataset x segmentation: chunks of its corpus part, written to an HDF5 store."""
    input:
        corpus=dataset_corpus,
        code=SEGMENT_CODE,
    output:
        store=f"{DATA}/stores/{{dataset}}.h5",
    params:
        spec=dataset_spec,
        seed=config["corpus"]["seed"],
    log:
        "logs/stores/{dataset}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "scripts/run_stage.py"


rule data:
    """All waveform stores (the data stages of the DAG)."""
    input:
        [store_path(dataset) for dataset in config["datasets"]],
