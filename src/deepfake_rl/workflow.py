"""Adapters between Snakemake jobs and the library: each stage reads its inputs, params and outputs
from the `snakemake` object of a `script:` rule, so no shell command is ever built from config or
manifest strings, and logs (including progress bars) go to the rule's log file."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import platform
import sys
import traceback
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from deepfake_rl.errors import DataError
from deepfake_rl.gpu_slots import gpu_slot

Stage = Callable[[Any], None]


def _build_domain(job: Any) -> None:
    from deepfake_rl.data.embedded.build import build_domain

    params = job.params
    build_domain(job.wildcards.domain, dict(params.recipe), size=params.size, seed=params.seed,
                 output_dir=Path(job.output.corpus), workers=job.threads)


def _segment(job: Any) -> None:
    from deepfake_rl.data.segment_stage import segment_corpus

    spec = dict(job.params.spec)
    segment_corpus(Path(job.input.corpus) / "manifest.csv", job.output.store, proportion=spec["proportion"],
                   max_seconds=spec.get("max_seconds"), random_seconds=spec.get("random_seconds"),
                   min_seconds=spec["min_seconds"], seed=job.params.seed,
                   dataset=job.wildcards.dataset,
                   on_bad_file=job.params.on_bad_file)   # the report goes to job.output.skipped, next to the store


def _pretrain(job: Any) -> None:
    from deepfake_rl import stages

    stages.pretrain(job.wildcards.model, job.params.model, job.params.settings, job.input.store,
                    job.output.checkpoint, device=job.params.device)


def _posttrain(job: Any) -> None:
    from deepfake_rl import stages

    stages.posttrain(job.wildcards.model, job.params.model, job.params.settings, job.input.pretrained,
                     job.input.train, job.input.valid, job.output.checkpoint, job.output.log_csv,
                     device=job.params.device)


def inference_batch_seconds(job: Any) -> float | None:
    """Padded audio per scoring / prefix-caching batch: read here, not a param, because it changes
    speed and memory only (outputs equal up to float rounding), so changing it must not rerun jobs."""
    return job.config.get("inference", {}).get("max_batch_seconds")


def _feature_cache(job: Any) -> None:
    from deepfake_rl import stages

    stages.feature_cache(job.wildcards.model, job.params.model, job.wildcards.init, job.input.checkpoint,
                         job.params.freeze, list(job.input.stores), list(job.output.features),
                         max_batch_seconds=inference_batch_seconds(job))


def _finetune(job: Any) -> None:
    from deepfake_rl import stages

    wc = job.wildcards
    stages.finetune(wc.model, job.params.model, job.params.method, job.params.settings, int(wc.seed),
                    job.input.init, job.input.train, job.input.valid, job.output.checkpoint, job.output.log_csv,
                    device=job.params.device, desc=f"{wc.model} {wc.method} seed {wc.seed}",
                    reference_checkpoint=job.input.get("reference"),
                    # read here, not a param: how often a job saves its resume state changes no output,
                    # so changing it must not rerun finished jobs
                    checkpoint_every=job.config.get("finetune", {}).get("checkpoint_every"))


def _score(job: Any) -> None:
    """Every seed's checkpoint of one (model, method) on every test set: outputs are seed-major."""
    from deepfake_rl import stages

    stages.score_runs(list(job.input.checkpoints), job.params.freeze, list(job.input.data),
                      list(job.output.scores), list(job.output.embeddings), batch_size=job.params.batch_size,
                      device=job.params.device, max_batch_seconds=inference_batch_seconds(job))


def _table1(job: Any) -> None:
    from deepfake_rl import tables

    tables.table1(list(job.input.scores), job.params.test_sets, job.params.model_labels, job.output.eer_long,
                  job.output.table, methods=job.params.methods, preal_table_csv=job.output.table_preal)


def _table2(job: Any) -> None:
    from deepfake_rl import tables

    settings = job.params.settings
    tables.table2(job.input.metrics, job.params.test_sets["out_of_domain"], job.params.model_labels,
                  settings["methods"], settings["metrics"], job.output[0])


def _hard_samples(job: Any) -> None:
    from deepfake_rl.figures import hard_sample_curves
    from deepfake_rl.train.logs import epoch_statistics

    frame = epoch_statistics(list(job.input.logs), "hard_fraction")
    hard_sample_curves(frame, job.params.methods, job.params.model_labels, job.output[0])


def _metrics(job: Any) -> None:
    from deepfake_rl import tables

    tables.metrics_long(list(job.input.scores), job.output[0])


def _uncertainty(job: Any) -> None:
    from deepfake_rl.uncertainty import store_recordings, uncertainty_stage

    settings = dict(job.params.settings)
    comparisons = [tuple(pair) for pair in settings.pop("comparisons", [])]
    averages = {name: list(job.params.test_sets[name]) for name in settings.pop("averages", [])}
    settings.pop("resample", None)   # the rule gives the stores exactly when recordings are drawn
    recordings = store_recordings(list(job.input.stores)) if job.input.stores else None
    uncertainty_stage(list(job.input.scores), comparisons, job.output.intervals, job.output.seeds,
                      job.output.significance, averages=averages, recordings=recordings, **settings)


def _drift(job: Any) -> None:
    from deepfake_rl.drift import drift_stage

    settings = dict(job.params.settings)
    drift_stage(list(job.input.embeddings), settings["reference"], job.output.long, job.output.summary,
                method=settings["estimator"], max_points=settings["max_points"],
                n_subsamples=settings["n_subsamples"], n_projections=settings["n_projections"],
                seed=settings["seed"])


def _drift_figure(job: Any) -> None:
    import pandas as pd

    from deepfake_rl.figures import drift_profiles

    figure, test_sets = job.params.figure, job.params.test_sets
    columns = {**test_sets["in_domain"], **test_sets["out_of_domain"]}
    model = figure["model"]
    drift_profiles(pd.read_csv(job.input.summary), model, list(columns), list(columns.values()),
                   list(figure["methods"]), list(figure["methods"].values()), job.output[0],
                   title=f"{figure.get('title', 'Drift')}: {job.params.model_labels.get(model, model)}")


def _table1_heatmap(job: Any) -> None:
    from deepfake_rl.figures import table1_heatmap

    table1_heatmap(job.input.table, job.output[0], title="Table 1: EER (%)")


def _environment(job: Any) -> None:
    from deepfake_rl.environment import write_environment

    write_environment(job.output[0], corpus_root=job.params.corpus, dataset_domains=dict(job.params.dataset_domains))


def _results_page(job: Any) -> None:
    from deepfake_rl.results_page import write_results_page

    write_results_page(Path(job.input.environment).parent, job.output[0])  # findings: the page's default columns


def _import_domain(job: Any) -> None:
    from deepfake_rl.data.real_corpus import import_domain

    params = job.params
    import_domain(params.loader, job.input.root, Path(job.output.corpus), options=dict(params.options),
                  on_bad_file=params.on_bad_file, verify=params.verify, threads=job.threads)


def _import_checkpoint(job: Any) -> None:
    from deepfake_rl.models.import_checkpoint import import_posttrained, import_pretrained

    stage = import_posttrained if job.wildcards.init == "posttrained" else import_pretrained
    stage(job.input.source, job.wildcards.model, job.params.model, job.output.checkpoint,
          drop_adapters=job.params.drop_adapters, record_path=job.output.record)


STAGES: dict[str, Stage] = {"build_domain": _build_domain, "segment": _segment, "pretrain": _pretrain,
                            "posttrain": _posttrain, "feature_cache": _feature_cache,
                            "feature_cache_tests": _feature_cache, "finetune": _finetune,
                            "score": _score, "score_initial": _score, "table1": _table1, "metrics": _metrics,
                            "uncertainty": _uncertainty, "drift": _drift, "drift_figure": _drift_figure,
                            "table1_heatmap": _table1_heatmap, "table2": _table2, "hard_samples": _hard_samples,
                            "import_domain": _import_domain, "import_checkpoint": _import_checkpoint,
                            "environment": _environment, "results_page": _results_page}


def limit_threads(threads: int) -> None:
    """Let the job's numerical libraries use the threads Snakemake gave it, no more: torch defaults
    to every core, and two 1-thread jobs each running 2 threads on 2 cores is many times slower than
    either alone (oversubscription). Set before torch is imported, which reads these at start-up."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(max(1, threads))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(max(1, threads))


# Which kernels do the arithmetic is chosen per machine at run time, and each choice rounds differently
# (issue 17 item 3): on an AVX-512 CPU torch's vectorised ops, oneDNN's convolutions, MKL's GEMM
# (Intel CPUs only), numpy's ufuncs (exp, sin, log, tanh) and OpenBLAS take AVX-512 paths, on an AVX2
# CPU AVX2 paths. Capping all of them at AVX2 gives every x86 machine with AVX2 the AVX2 paths (no
# cost where AVX2 is the top anyway). A value the user exported wins (e.g. MKL_CBWR=COMPATIBLE, the
# one MKL branch Intel and AMD CPUs share, measured 12 % (waveform training) to 57 % (training on cached
# features) slower per step on a 2-core AMD EPYC: not the default).
AVX2_PINS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2",
             "OPENBLAS_CORETYPE": "Haswell"}
# numpy's AVX-512 dispatch targets (on Linux x86 its exp/log/sin then run Intel's SVML), as releases
# name them: a name the installed release does not dispatch is an ImportWarning (an error under -W error)
NUMPY_AVX512 = {(2, 4): "X86_V4 AVX512_ICL AVX512_SPR",
                (0, 0): "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL "
                        "AVX512_SPR"}
# MKL's own reproducibility conditions: no run-time change of its thread count; POT's torch backend:
# 3 s of the drift job's start-up for an analysis that runs on numpy arrays
ANY_MACHINE_PINS = {"MKL_DYNAMIC": "FALSE", "OMP_DYNAMIC": "FALSE", "POT_BACKEND_DISABLE_PYTORCH": "1"}


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo is missing or unreadable."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.split(":")[0].strip() == "flags"), "")
    return set(line.partition(":")[2].split())


def numpy_avx512_targets() -> str | None:
    """The installed numpy's names for its AVX-512 targets (read from its metadata: numpy must not
    be imported before NPY_DISABLE_CPU_FEATURES is set); None without numpy."""
    try:
        release = tuple(int(part) for part in importlib.metadata.version("numpy").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    return next(names for since, names in NUMPY_AVX512.items() if release >= since)


def pin_numerics(environ: MutableMapping[str, str] | None = None, flags: set[str] | None = None,
                 machine: str | None = None) -> dict[str, str]:
    """Set the variables that choose numerical kernels (AVX2_PINS on x86 CPUs with AVX2 and FMA,
    ANY_MACHINE_PINS everywhere) unless already set; returns what it set. Call it before torch,
    numpy or MKL load: each reads its variable once, at load or first use."""
    environ = os.environ if environ is None else environ
    flags = cpu_flags() if flags is None else flags
    x86 = (machine or platform.machine()).lower() in ("x86_64", "amd64")
    wanted = dict(ANY_MACHINE_PINS)
    if x86 and {"avx2", "fma"} <= flags:
        wanted.update(AVX2_PINS)
        numpy_targets = numpy_avx512_targets()
        if numpy_targets:
            wanted["NPY_DISABLE_CPU_FEATURES"] = numpy_targets
    applied = {key: value for key, value in wanted.items() if key not in environ}
    environ.update(applied)
    return applied


def run_stage(job: Any) -> None:
    """Run the stage named after the job's rule, with stderr and logging sent to its log file."""
    stage = STAGES[job.rule]
    pin_numerics()
    limit_threads(job.threads)
    log_path = Path(job.log[0]) if job.log else None
    with contextlib.ExitStack() as stack:
        stream = sys.stderr
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            stream = stack.enter_context(open(log_path, "w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stderr(stream))
        logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # one GPU of its own per job on a multi-GPU box (Snakemake caps gpu=N but assigns no ids)
        stack.enter_context(gpu_slot(str(getattr(job.params, "device", "cpu"))))
        try:
            stage(job)
        except DataError as error:
            # an expected problem of the data (corpus, protocol line, manifest, clip): its message names the
            # file and what to do, and a traceback would only bury it; one line in the log and on the console
            if log_path is not None:
                print(f"{job.rule}: {error}", file=stream)
            raise SystemExit(f"{job.rule}: {error}") from None
        except Exception:
            # the log must say why (on a cluster the console is not at hand); Snakemake reports the failure
            traceback.print_exc(file=stream)
            raise
