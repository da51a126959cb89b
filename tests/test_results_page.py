"""docs/results.md is rendered from a results tree, byte for byte the same each time, and the README's
block between the markers is exactly the page's main part (issue 18 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepfake_rl.__main__ import main
from deepfake_rl.results_page import (BEGIN, END, ResultsPageError, half_widths, page_part, render_page,
                                      significance_summary, write_results_page)

TABLE1 = """row,model,pretrain,posttrain,finetune,DFE24 4s,DFE24 10s,in-domain ave.,ADD23,FoR,out-of-domain ave.
17,MMS-300M,yes,yes,x,20.5,10.0,15.25,5.0,,
18,MMS-300M,yes,yes,SFT,8.25,2.0,5.12,9.5,4.0,6.75
"""
TABLE2 = """model,metric,method,ADD23,FoR,Avg.
MMS-300M,AUC,SFT,0.9514,0.98,0.9657
MMS-300M,EER,SFT,0.095,0.04,0.0675
"""
EER_LONG = """model,method,seed,dataset,n_real,n_fake,eer,note
mms_300m,none,0,dfe24_4s,40,60,0.205,
mms_300m,sft,1,dfe24_4s,40,60,0.08,
mms_300m,sft,2,dfe24_4s,40,60,0.085,
mms_300m,none,0,add23,100,100,0.05,
"""
# per-run intervals: half-widths 5, 10, 5 EER points on dfe24_4s (median 5, largest 10), 1.5 on add23
INTERVALS = """model,method,seed,dataset,eer,eer_low,eer_high
mms_300m,none,0,dfe24_4s,0.15,0.10,0.20
mms_300m,sft,1,dfe24_4s,0.15,0.05,0.25
mms_300m,sft,2,dfe24_4s,0.05,0.0,0.1
mms_300m,none,0,add23,0.05,0.035,0.065
"""
# 2 of 4 with p < 0.05: grpo below sft on dfe24_4s, grpo_s above grpo on add23
SIGNIFICANCE = """model,dataset,method_a,method_b,n_seeds_a,n_seeds_b,eer_a,eer_b,difference,low,high,p_value
mms_300m,dfe24_4s,grpo,sft,3,3,0.06,0.08,-0.02,-0.035,-0.005,0.01
mms_300m,add23,grpo,sft,3,3,0.09,0.095,-0.005,-0.02,0.01,0.2
mms_300m,add23,grpo_s,grpo,3,3,0.1,0.09,0.01,0.001,0.02,0.04
mms_300m,avg:out_of_domain,grpo,sft,3,3,0.08,0.09,-0.01,-0.03,0.01,0.3
"""
DRIFT = """model,method,dataset,drift_mean,drift_std,drift_subsample_std,n_seeds,estimator
mms_300m,none,dfe24_4s,1.5,,0.0,1,W1
mms_300m,sft,dfe24_4s,2.25,0.1,0.0,3,W1
mms_300m,none,add23,3.0,,0.0,1,W1
"""
ENVIRONMENT = {
    "created_utc": "2026-01-02T03:04:05+00:00",
    "cpu": {"model": "Test CPU 9000", "family": "25", "model_number": "1", "mhz": "2445.404", "logical_cores": 2, "load_average_1_5_15_min": [0.5, 0.25, 0.125]},
    "platform": {"platform": "Linux-test-x86_64"}, "python": {"version": "3.11.7"},
    "torch": {"version": "2.13.0+cpu", "cpu_capability": "AVX2"},
    "numpy_blas": {"blas": {"name": "scipy-openblas", "version": "0.3"}},
    "packages": {"numpy": "2.4.6", "transformers": "5.0.0", "pot": None},
    "tools": {"ffmpeg": "ffmpeg version 5.1"}, "environment_variables": {"OMP_NUM_THREADS": "1"},
    "git": {"commit": "0123456789abcdef0123", "dirty": True},
    "corpus_hashes": {"domains": {"dfe24": "ab12"}, "corpus": "fedcba9876543210"},
}
README = f"# Project\n\nIntro.\n\n## Results\n\n{BEGIN}\nold numbers\n{END}\n\n![figure](docs/figures/x.png)\n"


def results_tree(root: Path, *, optional: bool = True) -> Path:
    results = root / "results"
    results.mkdir(parents=True)
    (results / "table1.csv").write_text(TABLE1)
    if optional:
        for name, text in (("table2.csv", TABLE2), ("eer_long.csv", EER_LONG), ("eer_intervals.csv", INTERVALS),
                           ("significance.csv", SIGNIFICANCE), ("drift_summary.csv", DRIFT),
                           ("table1_preal.csv", TABLE1)):
            (results / name).write_text(text)
        (results / "environment.json").write_text(json.dumps(ENVIRONMENT))
    return results


def test_the_page_is_the_same_bytes_each_time_and_holds_every_table(tmp_path):
    results = results_tree(tmp_path)
    first, second = render_page(results), render_page(results)
    assert first == second
    for heading in ("## Headline", "## Table 1 on P(real)", "## Table 2 (TSRL's layout)", "## Bootstrap intervals",
                    "## Paired tests", "## Drift", "## Environment", "## The paper's findings"):
        assert heading in first
    lines = first.splitlines()
    # Table 1 cells with two decimals, an empty cell as n/a
    assert any(line.startswith("|    17 | MMS-300M") and "20.50" in line and "n/a" in line for line in lines)
    assert "| dfe24_4s   |                5.00 |     10.00 |      3 |            40 |            60 |" in lines
    assert "**Paired tests** (`results/significance.csv`): 2 of 4 comparisons have p < 0.05." in lines
    assert "**The paper's findings**, one paired test each per model: 1 differs, 1 not resolved." in lines
    assert ("Made on Test CPU 9000 (family 25 model 1, 2 logical cores, load 0.50 / 0.25 / 0.12 (1/5/15 min) when the tables were "
            "written), Linux-test-x86_64, Python 3.11.7, torch 2.13.0+cpu (CPU kernels AVX2), numpy 2.4.6, "
            "transformers 5.0.0; commit 0123456789ab with uncommitted changes; corpus hash fedcba987654; recorded "
            "2026-01-02T03:04:05+00:00.") in lines
    assert "| CPU identity              | family 25, model 1, MHz 2445.404" in first
    assert "| corpus hash dfe24         | ab12" in first and "| package pot" in first
    assert first.endswith("\n") and not first.endswith("\n\n")
    # findings: GRPO vs SFT in domain (the first test set) differs; out of domain (the average row) unresolved
    assert any("GRPO reaches in-domain parity with SFT" in line and "| dfe24_4s " in line and "differs" in line
               for line in lines)
    assert any("GRPO generalises better than SFT" in line and "avg:out_of_domain" in line and "not resolved" in line
               for line in lines)


def test_half_widths_and_significance_counts_by_hand(tmp_path):
    import pandas as pd

    results = results_tree(tmp_path)
    widths = half_widths(pd.read_csv(results / "eer_intervals.csv"), pd.read_csv(results / "eer_long.csv"))
    assert list(widths["test set"]) == ["dfe24_4s", "add23"]                       # first-seen order
    assert widths["median half-width"].tolist() == pytest.approx([5.0, 1.5])
    assert widths["largest"].tolist() == pytest.approx([10.0, 1.5])
    assert widths["real trials"].tolist() == [40, 100]
    summary = significance_summary(pd.read_csv(results / "significance.csv"))
    assert summary.to_dict("records") == [
        {"a": "grpo", "b": "sft", "tests": 3, "p < 0.05": 1, "a lower": 1, "b lower": 0},
        {"a": "grpo_s", "b": "grpo", "tests": 1, "p < 0.05": 1, "a lower": 0, "b lower": 1}]


def test_intervals_over_recordings_say_so_and_count_the_recordings(tmp_path):
    import pandas as pd

    results = results_tree(tmp_path)
    intervals = pd.read_csv(results / "eer_intervals.csv")
    assert "recordings" not in half_widths(intervals).columns.str.cat(sep=" ")   # older tables: utterances
    assert "utterances resampled" in render_page(results)
    by_recording = intervals.assign(resampled="recordings", n_resampled_real=intervals["dataset"].map(
        {"dfe24_4s": 4, "add23": 100}), n_resampled_fake=intervals["dataset"].map({"dfe24_4s": 5, "add23": 90}))
    by_recording.to_csv(results / "eer_intervals.csv", index=False)
    widths = half_widths(by_recording)
    assert widths["real recordings"].tolist() == [4, 100] and widths["fake recordings"].tolist() == [5, 90]
    page = render_page(results)
    assert "recordings (each with all its segments) resampled" in page and "utterances resampled" not in page


def test_the_readme_block_is_the_pages_main_part_and_nothing_else_changes(tmp_path):
    results = results_tree(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    page = write_results_page(results, tmp_path / "docs" / "results.md", readme=readme)
    assert (tmp_path / "docs" / "results.md").read_text() == page
    text = readme.read_text()
    part = page_part(page)
    assert page_part(text) == part and part.startswith(BEGIN) and part.endswith(END)
    assert "old numbers" not in text
    assert text.replace(part, "<part>") == README.replace(f"{BEGIN}\nold numbers\n{END}", "<part>")
    write_results_page(results, tmp_path / "docs" / "results.md", readme=readme)   # idempotent
    assert readme.read_text() == text


def test_the_command_line_writes_the_same_page(tmp_path):
    results = results_tree(tmp_path)
    out = tmp_path / "page.md"
    assert main(["results-page", "--results", str(results), "--out", str(out)]) == 0
    assert out.read_text() == render_page(results)


def test_only_table1_is_required(tmp_path):
    page = render_page(results_tree(tmp_path, optional=False))
    assert "## Table 1 on P(real)" not in page and "## Paired tests" not in page
    assert "Environment: not recorded (results/environment.json is missing)." in page


def test_clear_errors_naming_the_file(tmp_path):
    with pytest.raises(ResultsPageError, match="table1.csv: not found"):
        render_page(tmp_path)
    results = results_tree(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(ResultsPageError, match="README.md: no '<!-- results:begin -->'"):
        write_results_page(results, tmp_path / "page.md", readme=readme)
    assert readme.read_text() == "# no markers\n"
    (results / "environment.json").write_text("{not json")
    with pytest.raises(ResultsPageError, match="environment.json: not valid JSON"):
        render_page(results)
