"""End to end on the tiny corpus (one model), in a copy of the repository: the default target is
built, a second run has nothing to do, and edits rerun exactly the jobs they should."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO
from tests.test_workflow import job_counts

pytestmark = pytest.mark.slow


def copy_repository(destination: Path) -> Path:
    """The tracked and untracked-but-not-ignored files of the repository, as a fresh clone would have."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                target.write_bytes(source.read_bytes())
    return destination


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The copy's own src/ is imported by the jobs, so edits to the copy behave like a user's edits."""
    repo = copy_repository(tmp_path_factory.mktemp("repo"))
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}

    def snakemake(*args: str, overlays: tuple[str, ...] = (), check: bool = True) -> str:
        configs = ["config/config.yaml", "config/tiny.yaml", *overlays]  # --configfile last: it takes many values
        result = subprocess.run([sys.executable, "-m", "snakemake", *args, "--configfile", *configs],
                                cwd=repo, env=env, capture_output=True, text=True, timeout=1500)
        if check and result.returncode != 0:
            raise AssertionError(f"snakemake {args} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
        return result.stdout + result.stderr

    snakemake("--cores", "2")
    return repo, snakemake


def test_default_target_is_table1_with_the_paper_rows(tiny_run):
    repo, _ = tiny_run
    table = pd.read_csv(repo / "results" / "table1.csv")
    # MMS-300M: post-trained, SFT, GRPO_s (paper rows 17-19), then SFT -> GRPO (not a paper row for it)
    assert list(table["row"]) == [17, 18, 19, 21]
    assert list(table["finetune"]) == ["x", "SFT", "GRPO_s", "SFT -> GRPO"]
    eer_columns = table.columns[5:]
    assert table[eer_columns].notna().all().all()
    long = pd.read_csv(repo / "results" / "eer_long.csv")
    assert set(long["dataset"]) >= {"dfe24_4s", "dfe24_50s", "add23", "for", "dv", "itw", "pool_test"}


def test_the_default_target_also_makes_the_analyses(tiny_run):
    repo, _ = tiny_run
    results = repo / "results"
    metrics = pd.read_csv(results / "metrics_long.csv")
    assert {"eer", "min_dcf", "act_dcf", "cllr", "auc", "acc"} <= set(metrics.columns)
    eer = pd.read_csv(results / "eer_long.csv")
    assert len(metrics) == len(eer) and "asv19dev" not in set(metrics["dataset"])   # test sets only
    drift = pd.read_csv(results / "drift.csv")
    assert set(drift["dataset"]) == set(eer["dataset"]) and (drift["drift"] >= 0).all()
    assert (drift.groupby("method").size() == drift.groupby("method")["dataset"].nunique()).all()  # one seed
    for figure in ("table1_heatmap", "drift_methods", "drift_beta"):
        assert (results / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(pd.read_csv(results / "significance.csv").columns)[:4] == ["model", "dataset", "method_a", "method_b"]


def test_second_run_has_nothing_to_do(tiny_run):
    _, snakemake = tiny_run
    assert "Nothing to be done" in snakemake("-n")


def overlay(repo: Path, name: str, text: str) -> str:
    path = repo / name
    path.write_text(text)
    return str(path)


# what any change of scores reruns after scoring: the tables, analyses and figures (all local, seconds)
DOWNSTREAM = {"table1": 1, "metrics": 1, "uncertainty": 1, "drift": 1, "drift_figure": 2, "table1_heatmap": 1,
              "all": 1}


def rerun_methods(dry_run: str) -> set[str]:
    """The methods whose fine-tuning a dry run would (re)run."""
    return set(re.findall(r"output: results/runs/\w+/(\w+)/seed\d+/model\.safetensors", dry_run))


def test_sft_learning_rate_reruns_sft_and_what_starts_from_it(tiny_run):
    repo, snakemake = tiny_run
    extra = overlay(repo, "lr.yaml", "methods:\n  sft: {lr: 5.0e-4}\n")
    dry = snakemake("-n", overlays=(extra,))
    assert job_counts(dry) == {"finetune": 2, "score": 2, **DOWNSTREAM}
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
        assert job_counts(dry) == {"finetune": 2, "score": 2, **DOWNSTREAM}
        assert rerun_methods(dry) == {"sft", "sft_grpo"}
        assert not re.search(r"output: results/runs/\w+/none/", dry)
    finally:
        module.write_text(original)


def test_changing_one_segmentation_reruns_its_store_caches_and_scores_not_training(tiny_run):
    repo, snakemake = tiny_run
    extra = overlay(repo, "seg.yaml", "datasets:\n  dfe24_4s: {max_seconds: 5}\n")
    counts = job_counts(snakemake("-n", overlays=(extra,)))
    assert counts == {"segment": 1, "feature_cache_tests": 1, "score": 3, "score_initial": 1, **DOWNSTREAM}


def test_a_drift_setting_reruns_the_drift_analysis_only(tiny_run):
    repo, snakemake = tiny_run
    extra = overlay(repo, "drift.yaml", "drift: {max_points: 50}\n")
    assert job_counts(snakemake("-n", overlays=(extra,))) == {"drift": 1, "drift_figure": 2, "all": 1}
