"""benchmarks/findings_across_runs.py: verdicts and Table 1 averages of several runs lined up."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from deepfake_rl.findings import OUT_OF_DOMAIN
from tests.conftest import load_benchmark

findings_across_runs = load_benchmark("findings_across_runs")

SIGNIFICANCE_COLUMNS = ["model", "dataset", "method_a", "method_b", "eer_a", "eer_b", "difference", "low", "high",
                        "p_value"]


def significance(forget: float, forget_p: float) -> pd.DataFrame:
    """One model: SFT vs none in domain (always reproduced) and out of domain (the varying one)."""
    rows = [("m", "dfe24_4s", "sft", "none", 0.10, 0.25, -0.15, -0.2, -0.1, 0.001),
            ("m", OUT_OF_DOMAIN, "sft", "none", 0.04 + forget, 0.04, forget, forget - 0.01, forget + 0.01, forget_p)]
    return pd.DataFrame(rows, columns=SIGNIFICANCE_COLUMNS)


def table1(post_trained_ood: float) -> pd.DataFrame:
    return pd.DataFrame({"row": [1, 2], "model": ["M", "M"], "finetune": ["x", "SFT"],
                         "in-domain ave.": [30.0, 20.0], "out-of-domain ave.": [post_trained_ood, 9.0]})


def test_verdicts_are_lined_up_and_disagreement_is_flagged():
    table = findings_across_runs.findings_across({"run0": significance(0.02, 0.01), "run1": significance(0.01, 0.3)})
    assert list(table["finding"]) == ["SFT improves the target domain", "SFT forgets: out-of-domain EER rises"]
    assert list(table["same verdict"]) == ["yes", "no"]
    assert table.loc[1, "run0"] == "+2.00 (p 0.010) reproduced"
    assert table.loc[1, "run1"] == "+1.00 (p 0.300) not resolved"


def test_a_finding_missing_from_one_run_is_shown_and_not_counted_as_agreeing():
    partial = significance(0.02, 0.01).iloc[:1]
    table = findings_across_runs.findings_across({"run0": significance(0.02, 0.01), "run1": partial})
    assert table.loc[1, "run1"] == "-"
    assert table.loc[1, "same verdict"] == "no"


def test_table1_averages_per_run_and_their_range():
    table = findings_across_runs.averages_across({"a": table1(6.0), "b": table1(8.5)})
    assert list(table["out-of-domain ave. a"]) == [6.0, 9.0]
    assert list(table["out-of-domain ave. range"]) == pytest.approx([2.5, 0.0])
    assert list(table["in-domain ave. range"]) == [0.0, 0.0]


def test_main_names_a_folder_without_results(tmp_path: Path, capsys):
    run = tmp_path / "run0" / "results"
    run.mkdir(parents=True)
    significance(0.02, 0.01).to_csv(run / "significance.csv", index=False)
    table1(6.0).to_csv(run / "table1.csv", index=False)
    findings_across_runs.main([str(run), str(run)])   # the same run twice: labels fall back to paths
    assert "2 of 2 findings have the same verdict in all 2 runs" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="empty/significance.csv: not found"):
        (tmp_path / "empty").mkdir()
        findings_across_runs.main([str(run), str(tmp_path / "empty")])
