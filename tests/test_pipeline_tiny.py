"""End to end on the tiny corpus (one model), in a copy of the repository: the default target is
built, a second run has nothing to do, and edits rerun exactly the jobs they should."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from deepfake_rl.models import load_detector
from deepfake_rl.results_page import render_page
from tests.conftest import TINY_CONFIGS, copy_repository, snakemake_runner
from tests.test_workflow import job_counts

pytestmark = pytest.mark.slow  # the shared `tiny_run` (one run per session) is in tests/conftest.py


def test_default_target_is_table1_with_the_paper_rows(tiny_run):
    repo, _ = tiny_run
    table = pd.read_csv(repo / "results" / "table1.csv")
    # MMS-300M: post-trained, SFT, GRPO_s (paper rows 17-19), then SFT -> GRPO (not a paper row for
    # it); TSRL is in Table 2, not here
    assert list(table["row"]) == [17, 18, 19, 21]
    assert list(table["finetune"]) == ["x", "SFT", "GRPO_s", "SFT -> GRPO"]
    eer_columns = table.columns[5:]
    assert table[eer_columns].notna().all().all()
    long = pd.read_csv(repo / "results" / "eer_long.csv")
    assert set(long["dataset"]) >= {"dfe24_4s", "dfe24_50s", "add23", "for", "dv", "itw", "pool_test"}
    preal = pd.read_csv(repo / "results" / "table1_preal.csv")      # the same table on P(real)
    assert list(preal.columns) == list(table.columns) and list(preal["row"]) == list(table["row"])
    assert preal[eer_columns].notna().all().all() and {"eer", "eer_preal"} <= set(long.columns)


def test_the_default_target_also_makes_the_analyses(tiny_run):
    repo, _ = tiny_run
    results = repo / "results"
    metrics = pd.read_csv(results / "metrics_long.csv")
    assert {"eer", "min_dcf", "act_dcf", "cllr", "auc", "acc", "eer_preal", "auc_preal"} <= set(metrics.columns)
    eer = pd.read_csv(results / "eer_long.csv")
    assert len(metrics) == len(eer) and "asv19dev" not in set(metrics["dataset"])   # test sets only
    drift = pd.read_csv(results / "drift.csv")
    assert set(drift["dataset"]) == set(eer["dataset"]) and (drift["drift"] >= 0).all()
    assert set(drift["estimator"]) == {"W1"} and "drift_subsample_std" in drift
    assert (drift.groupby("method").size() == drift.groupby("method")["dataset"].nunique()).all()  # one seed
    table2 = pd.read_csv(results / "table2.csv")
    assert list(table2.columns) == ["model", "metric", "method", "ADD23", "FoR", "DV", "ItW", "Avg."]
    assert list(table2["metric"]) == ["AUC", "AUC", "ACC", "ACC", "EER", "EER"]      # SFT and TSRL rows
    assert list(table2["method"]) == ["SFT", "TSRL"] * 3
    tsrl_log = pd.read_csv(results / "runs" / "mms_300m" / "tsrl" / "seed1" / "train_log.csv")
    assert {"weight", "hard_fraction", "bc_mse_after", "tutor_reward"} <= set(tsrl_log.columns)
    for figure in ("table1_heatmap", "drift_methods", "drift_beta", "hard_samples"):
        assert (results / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(pd.read_csv(results / "significance.csv").columns)[:4] == ["model", "dataset", "method_a", "method_b"]
    assert "**Table 1**" in render_page(results) and "## Environment" in render_page(results)   # docs/results.md


def test_second_run_has_nothing_to_do(tiny_run):
    _, snakemake = tiny_run
    assert "Nothing to be done" in snakemake("-n")


def test_a_moved_checkout_with_its_results_has_nothing_to_do(tiny_run, tmp_path):
    """Rules name their code inputs relative to the checkout: Snakemake reruns a job whose set of input
    paths changed, so absolute ones made a moved or copied run start again from the corpus."""
    repo, _ = tiny_run
    moved = tmp_path / "moved"
    shutil.copytree(repo, moved, symlinks=True)   # copy2: modification times kept, as `mv` or `cp -a`
    assert "Nothing to be done" in snakemake_runner(moved)("-n")


def test_resume_checkpoint_interval_reruns_nothing(tiny_run):
    """How often jobs save resume states changes no result, so it is not a param (issue 10 item 2)."""
    repo, snakemake = tiny_run
    extra = overlay(repo, "resume.yaml", "finetune: {checkpoint_every: 7}\n")
    assert "Nothing to be done" in snakemake("-n", overlays=(extra,))


def test_inference_batch_bound_reruns_nothing(tiny_run):
    """The padded-audio bound of scoring and prefix-caching batches changes speed only, so not a param."""
    repo, snakemake = tiny_run
    extra = overlay(repo, "inference.yaml", "inference: {max_batch_seconds: 3}\n")
    assert "Nothing to be done" in snakemake("-n", overlays=(extra,))


def overlay(repo: Path, name: str, text: str) -> str:
    path = repo / name
    path.write_text(text)
    return str(path)


# what any change of scores reruns after scoring: the tables, analyses and figures (all local, seconds)
DOWNSTREAM = {"table1": 1, "metrics": 1, "uncertainty": 1, "drift": 1, "drift_figure": 2, "table1_heatmap": 1,
              "table2": 1, "environment": 1, "all": 1}


def rerun_methods(dry_run: str) -> set[str]:
    """The methods whose fine-tuning a dry run would (re)run."""
    return set(re.findall(r"output: results/runs/\w+/(\w+)/seed\d+/model\.safetensors", dry_run))


def test_sft_learning_rate_reruns_sft_and_what_starts_from_it(tiny_run):
    repo, snakemake = tiny_run
    extra = overlay(repo, "lr.yaml", "methods:\n  sft: {lr: 5.0e-4}\n")
    dry = snakemake("-n", overlays=(extra,))
    assert job_counts(dry) == {"finetune": 2, "score": 2, **DOWNSTREAM, "hard_samples": 1}   # SFT logs feed Fig. 1
    assert rerun_methods(dry) == {"sft", "sft_grpo"}              # SFT -> GRPO starts from the SFT run


def test_grpo_beta_reruns_the_grpo_methods_only(tiny_run):
    repo, snakemake = tiny_run
    extra = overlay(repo, "beta.yaml", "grpo: {beta: 0.1}\n")
    dry = snakemake("-n", overlays=(extra,))
    assert job_counts(dry) == {"finetune": 2, "score": 2, **DOWNSTREAM}
    assert rerun_methods(dry) == {"grpo_s", "sft_grpo"}


def test_editing_the_sft_module_reruns_sft_jobs_only(tiny_run):
    repo, snakemake = tiny_run
    module = repo / "src" / "deepfake_rl" / "methods" / "sft.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# an edit\n")
        dry = snakemake("-n")
        assert job_counts(dry) == {"finetune": 2, "score": 2, **DOWNSTREAM, "hard_samples": 1}   # SFT logs feed Fig. 1
        assert rerun_methods(dry) == {"sft", "sft_grpo"}
        assert not re.search(r"output: results/runs/\w+/none/", dry)
    finally:
        module.write_text(original)


def test_changing_one_segmentation_reruns_its_store_caches_and_scores_not_training(tiny_run):
    repo, snakemake = tiny_run
    extra = overlay(repo, "seg.yaml", "datasets:\n  dfe24_4s: {max_seconds: 5}\n")
    counts = job_counts(snakemake("-n", overlays=(extra,)))
    assert counts == {"segment": 1, "feature_cache_tests": 1, "score": 4, "score_initial": 1, **DOWNSTREAM}


def test_a_drift_setting_reruns_the_drift_analysis_only(tiny_run):
    repo, snakemake = tiny_run
    extra = overlay(repo, "drift.yaml", "drift: {max_points: 50}\n")
    assert job_counts(snakemake("-n", overlays=(extra,))) == {"drift": 1, "drift_figure": 2, "all": 1}


def test_snakemake_report_is_one_self_contained_html_file(tiny_run):
    repo, snakemake = tiny_run
    snakemake("--report", "results/report.html")
    html = (repo / "results" / "report.html").read_text(encoding="utf-8", errors="replace")
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:2000].lower()
    for caption_word in ("Table 1", "Wasserstein", "hard"):     # captions from report/*.rst made it in
        assert caption_word in html


def test_a_fine_tuning_job_killed_with_snakemake_resumes_on_the_rerun(tiny_run, tmp_path):
    """Issue 10 item 2 through Snakemake: the whole process group (Snakemake and its job) dies by
    SIGKILL, as when a node fails, after the job's first periodic resume state; after `--unlock` the
    same command reruns the incomplete job, which continues from that state and ends with the weights
    of a run that was never interrupted."""
    repo, _ = tiny_run
    copy = copy_repository(tmp_path / "repo")
    for folder in ("data", "results", ".snakemake/metadata"):
        shutil.copytree(repo / folder, copy / folder, symlinks=True, dirs_exist_ok=True)
    snakemake = snakemake_runner(copy)
    extra = overlay(copy, "long.yaml", "methods:\n  sft: {epochs: 40}\nfinetune: {checkpoint_every: 1}\n")
    run_dir = copy / "results" / "runs" / "mms_300m" / "sft" / "seed1"
    target = str((run_dir / "model.safetensors").relative_to(copy))
    command = [sys.executable, "-m", "snakemake", target, "--cores", "1", "--configfile", *TINY_CONFIGS, extra]
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    process = subprocess.Popen(command, cwd=copy, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run_dir / "resume.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the job ended before its first state"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "model.safetensors").exists()
    snakemake("--unlock", target, overlays=(extra,))
    output = snakemake(target, "--cores", "1", "--rerun-incomplete", overlays=(extra,))
    assert "resuming" in (copy / "logs" / "runs" / "mms_300m" / "sft" / "seed1" / "finetune.log").read_text(), output
    resumed = load_detector(run_dir / "model.safetensors")
    assert not (run_dir / "resume.pt").exists()
    (run_dir / "model.safetensors").unlink()
    snakemake(target, "--cores", "1", overlays=(extra,))
    uninterrupted = load_detector(run_dir / "model.safetensors")
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key

