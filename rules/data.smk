# Corpus -> manifest per domain -> segmentation into HDF5 waveform stores. corpus.kind embedded: the
# workflow builds every domain offline (build_domain); corpus.kind real: every domain is imported from a
# downloaded corpus (import_domain, config/paper.yaml). Either way a domain is data/corpus/<domain>/ with
# a manifest.csv whose Path column is relative to that folder, and the segmentation reads only that.

import csv

REAL_CORPUS = config["corpus"]["kind"] == "real"


def domain_setting(domain, key, default=None):
    """A domain's setting, falling back to the corpus-wide one."""
    return config["corpus"]["domains"][domain].get(key, config["corpus"].get(key, default))


if REAL_CORPUS:

    REAL_DOMAINS = config["corpus"]["domains"]
    # every loader module counts (a glob, so a new loader cannot be left out of the list)
    IMPORT_CODE = src("data/real_corpus.py", "data/audio_io.py", "data/media.py", "data/manifest.py",
                      "data/bad_files.py") + sorted(
        str(module) for module in (SRC / "data" / "corpora").glob("*.py"))

    def real_domain_setting(key, default=None):
        """A domain's setting, falling back to the corpus-wide one (a params: lookup)."""
        return lambda wc: domain_setting(wc.domain, key, default)

    rule import_domain:
        """A downloaded corpus as a domain: data/corpus/<domain>/{manifest.csv, skipped.csv, import.json}
        and `root`, a link to the corpus folder (manifest paths are root/...). The corpus is marked
        ancient: its folder's modification time never reruns anything; a changed root, loader, option or
        loader code does (params and code inputs). After editing files inside a corpus, rerun with
        --forcerun import_domain."""
        input:
            root=lambda wc: ancient(REAL_DOMAINS[wc.domain]["root"]),
            code=IMPORT_CODE,
        output:
            corpus=directory(f"{DATA}/corpus/{{domain}}"),
        params:
            loader=lambda wc: REAL_DOMAINS[wc.domain]["loader"],
            options=lambda wc: REAL_DOMAINS[wc.domain].get("options", {}),
            on_bad_file=real_domain_setting("on_bad_file", "error"),
            verify=real_domain_setting("verify", "decode"),
        log:
            "logs/corpus/{domain}.log",
        benchmark:
            "logs/benchmarks/corpus/{domain}.tsv"
        wildcard_constraints:
            domain="|".join(REAL_DOMAINS),
        threads: 2
        resources:
            mem_mb=4000,
            runtime=360,
        conda:
            CONDA_ENV
        script:
            "scripts/run_stage.py"

else:

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
        threads: 2   # worker processes, each making every other clip (the audio does not depend on their number)
        resources:
            mem_mb=3000,
            runtime=30,
        conda:
            CONDA_ENV
        script:
            "scripts/run_stage.py"


def segment_audio_hours(wildcards, input):
    """Hours of audio a segmentation job reads (from its manifest; 0 before the corpus exists)."""
    manifest = Path(input.corpus) / "manifest.csv"
    if not manifest.is_file():
        return 0.0
    proportion = config["datasets"][wildcards.dataset]["proportion"]
    with open(manifest, newline="", encoding="utf-8") as handle:
        seconds = sum(float(row["Duration"]) for row in csv.DictReader(handle) if row["Proportion"] == proportion)
    return seconds / 3600


rule segment:
    """One dataset x segmentation: chunks of its corpus part, streamed to an HDF5 store (memory of one
    clip); run time is requested from the part's duration in the manifest (a real In-the-Wild store is
    about 38 h, 9 GB of 16 kHz float32). A clip that cannot
    be decoded follows corpus.on_bad_file (a domain may override it): stop, or leave it out; every clip
    that gave no segment is listed in <store>.skipped.csv."""
    input:
        corpus=dataset_corpus,
        code=SEGMENT_CODE,
    output:
        store=f"{DATA}/stores/{{dataset}}.h5",
        skipped=f"{DATA}/stores/{{dataset}}.skipped.csv",
    params:
        spec=dataset_spec,
        seed=config["corpus"]["seed"],
        on_bad_file=lambda wc: domain_setting(config["datasets"][wc.dataset]["domain"], "on_bad_file", "error"),
    log:
        "logs/stores/{dataset}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda wc, input: max(20, int(20 + 5 * segment_audio_hours(wc, input))),
    conda:
        CONDA_ENV
    script:
        "scripts/run_stage.py"


rule data:
    """All waveform stores (the data stages of the DAG)."""
    input:
        [store_path(dataset) for dataset in config["datasets"]],
