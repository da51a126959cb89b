"""The Snakemake DAG: default target, the data stages it lists, config errors, and what reruns."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(REPO / "config" / "config.yaml"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    block = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.MULTILINE)}


def job_files(output: str, rule: str, field: str = "output") -> list[list[str]]:
    """The files of `field` (output or input) of each job of `rule` in a dry run's job listing."""
    blocks = re.findall(rf"^rule {rule}:\n(.*?)(?=^\S|\Z)", output, re.MULTILINE | re.DOTALL)
    return [re.search(rf"^\s+{field}: (.+)$", block, re.MULTILINE).group(1).split(", ") for block in blocks]


def test_dry_run_of_default_target_lists_every_stage(tmp_path):
    dry = snakemake(tmp_path, "-n").stdout
    counts = job_counts(dry)
    assert counts["all"] == 1 and counts["table1"] == 1
    assert counts["build_domain"] == 7 and counts["segment"] == 15  # every configured dataset
    for stage in ("pretrain", "posttrain", "feature_cache", "finetune", "score"):
        assert counts[stage] > 0, stage
    # each job's start-up costs seconds (issue 17 item 4): one cache job per model x starting checkpoint
    # for fine-tuning's two sets, one for the sets only scoring reads; one fine-tuning job per run
    starts = {tuple(path.split("/")[2:4]) for path in re.findall(r"data/features/[^,\s]+", dry)}
    assert counts["feature_cache"] == counts["feature_cache_tests"] == len(starts) > 0
    finetune = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["finetune"]
    for outputs in job_files(dry, "feature_cache"):
        assert sorted(Path(path).stem for path in outputs) == sorted([finetune["train_set"], finetune["valid_set"]])
    runs = set(re.findall(r"results/runs/(\w+/\w+/seed\d+)/model\.safetensors", dry))
    assert counts["finetune"] == len(runs) > 0


def test_invalid_config_fails_with_the_key_named(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("corpus: {size: huge}\n")
    result = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config" / "config.yaml"), str(overlay),
                       check=False)
    assert result.returncode != 0
    assert "corpus.size: 'huge' is not one of ['tiny', 'default']" in result.stdout + result.stderr


@pytest.mark.slow
def test_tiny_data_stages_build_then_nothing_to_do_then_one_segmentation_reruns(tmp_path):
    tiny = ["--configfile", str(REPO / "config" / "config.yaml"), str(REPO / "config" / "tiny.yaml")]
    # two domains are enough to show the semantics and keep the test short
    targets = ["data/stores/dfe24_4s.h5", "data/stores/dfe24_10s.h5", "data/stores/for.h5"]
    # targets go before --configfile, which (like --resources) swallows every value after it
    snakemake(tmp_path, "--cores", "2", *targets, *tiny)
    for target in targets:
        assert (tmp_path / target).is_file()
    assert "Nothing to be done" in snakemake(tmp_path, "-n", *targets, *tiny).stdout
    overlay = tmp_path / "four_to_five.yaml"
    overlay.write_text("datasets:\n  dfe24_4s: {max_seconds: 5}\n")
    dry = snakemake(tmp_path, "-n", *targets, *tiny, str(overlay)).stdout
    assert job_counts(dry) == {"segment": 1}
    assert re.findall(r"^\s+output: (.+)$", dry, re.MULTILINE) == \
        ["data/stores/dfe24_4s.h5, data/stores/dfe24_4s.skipped.csv"]   # the store and its skip report
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)


def test_uncertainty_reads_the_stores_only_when_it_draws_recordings(tmp_path):
    target = "results/significance.csv"
    stores = {path for path in job_files(snakemake(tmp_path, "-n", target).stdout, "uncertainty", "input")[0]
              if path.startswith("data/stores/")}
    groups = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))["test_sets"]
    assert stores == {f"data/stores/{name}.h5" for group in groups.values() for name in group}
    overlay = tmp_path / "utterances.yaml"
    overlay.write_text("uncertainty: {resample: utterances}\n")
    dry = snakemake(tmp_path, "-n", target, "--configfile", str(REPO / "config" / "config.yaml"), str(overlay)).stdout
    assert not [path for path in job_files(dry, "uncertainty", "input")[0] if path.startswith("data/stores/")]
