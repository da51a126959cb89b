"""compare-runs: two results trees, what produced them and which paired-test verdicts changed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from deepfake_rl.__main__ import main
from deepfake_rl.compare_runs import compare_runs, same_corpus_sets, shown_difference


def results_tree(root: Path, eers: list[float], p_values: list[float], corpus: str = "c1",
                 torch_capability: str = "AVX2", cbwr: str = "AVX2", recorded: str = "2026-12-01",
                 family: str = "25") -> Path:
    root.mkdir()
    pd.DataFrame({"model": "m", "method": ["sft", "grpo"], "seed": 1, "dataset": "add23",
                  "eer": eers}).to_csv(root / "eer_long.csv", index=False)
    pd.DataFrame({"model": "m", "dataset": ["add23", "itw"], "method_a": "grpo", "method_b": "sft",
                  "difference": [-0.02, 0.01], "p_value": p_values}).to_csv(root / "significance.csv", index=False)
    (root / "environment.json").write_text(json.dumps({
        "git": {"commit": "abc"}, "created_utc": recorded,
        "cpu": {"model": "CPU", "family": family, "mhz": str(2000 + eers[0]), "load_average_1_5_15_min": [eers[0]]},
        "torch": {"version": "2", "cpu_capability": torch_capability}, "environment_variables": {"MKL_CBWR": cbwr},
        "packages": {"numpy": "2"}, "corpus_hashes": {"corpus": corpus, "domains": {"add23": corpus, "itw": "same"}}}))
    return root


def test_identical_runs_report_no_change(tmp_path, capsys):
    first = results_tree(tmp_path / "a", [0.10, 0.20], [0.01, 0.5])
    second = results_tree(tmp_path / "b", [0.10, 0.20], [0.01, 0.5], recorded="2026-12-02")   # another day
    report, changed = compare_runs(first, second)
    assert changed == 0
    assert "the same corpus hash and the same record otherwise" in report
    assert "2 equal" in report and "verdict changed in 0" in report
    assert main(["compare-runs", str(first), str(second)]) == 0


def test_a_flipped_verdict_and_another_environment_are_named(tmp_path):
    first = results_tree(tmp_path / "a", [0.10, 0.20], [0.01, 0.5])
    second = results_tree(tmp_path / "b", [0.12, 0.20], [0.20, 0.5], corpus="c2", torch_capability="AVX512",
                          cbwr="COMPATIBLE", family="23")
    report, changed = compare_runs(first, second)
    assert changed == 1
    assert "corpus hash differs (other audio) in domains: add23" in report
    assert "torch.cpu_capability: AVX2 vs AVX512" in report
    assert "environment_variables.MKL_CBWR: AVX2 vs COMPATIBLE" in report   # a field no list names
    assert "cpu.family: 25 vs 23" in report                                  # same model string, other generation
    assert "load_average" not in report and "created_utc" not in report     # when, not what
    assert "cpu.mhz" not in report                                          # a clock reading, not the machine
    assert "max 2.00 points" in report and "significant in A 1, in B 0" in report
    assert main(["compare-runs", str(first), str(second)]) == 1


def test_long_and_multi_line_values_show_where_they_differ():
    build = "PyTorch built with:\n  - GCC 13.3\n  - Intel(R) oneAPI Math Kernel Library Version {}"
    # the third line, from 15 characters before its first difference ("ary Version 202" + "4.2" / "5.0")
    assert shown_difference(build.format("2024.2"), build.format("2025.0")) == \
        "line 3: ...ary Version 2024.2 vs ...ary Version 2025.0"
    assert shown_difference("x" * 100, "x" * 99 + "y") == "..." + "x" * 16 + " vs ..." + "x" * 15 + "y"
    assert shown_difference(False, True) == "False vs True"


def test_per_model_lines_tell_a_moved_start_from_seed_noise(tmp_path):
    """Model "moved": its un-fine-tuned run changed and both fine-tuned seed means shift by 4 points (seed s.d.
    0.71); model "kept": the un-fine-tuned run is equal, the seed mean moves by 0.5. Sets of a domain whose
    corpus hash differs (dfe24) are left out of the per-model lines."""
    def tree(root: Path, shift: float, dfe24: str) -> Path:
        results_tree(root, [0.10, 0.20], [0.01, 0.5])
        rows = []
        for dataset in ("add23", "dfe24_4s"):
            rows += [("moved", "none", 0, dataset, 0.10 + shift), ("kept", "none", 0, dataset, 0.10)]
            rows += [("moved", "sft", seed, dataset, 0.20 + 0.01 * seed + shift) for seed in (0, 1)]
            rows += [("kept", "sft", seed, dataset, 0.20 + 0.01 * seed + shift / 8) for seed in (0, 1)]
        pd.DataFrame(rows, columns=["model", "method", "seed", "dataset", "eer"]).to_csv(root / "eer_long.csv",
                                                                                       index=False)
        record = json.loads((root / "environment.json").read_text())
        record["corpus_hashes"]["domains"] = {"add23": "a", "dfe24": dfe24}
        record["corpus_hashes"]["datasets"] = {"add23": "add23", "dfe24_4s": "dfe24"} if dfe24 == "x" else {}
        (root / "environment.json").write_text(json.dumps(record))
        return root

    report, _ = compare_runs(tree(tmp_path / "a", 0.0, "x"), tree(tmp_path / "b", 0.04, "y"))
    assert "per model, EER points, on the sets whose corpus is the same bytes in both (add23):" in report
    assert ("  moved: none: 0 of 1 sets equal, |A - B| median 4.00; fine-tuned seed means |A - B| median 4.00 "
            "against a seed s.d. of 0.71 in A (median over 1 method x set cells)") in report
    assert "  kept: none: 1 of 1 sets equal, |A - B| median 0.00; fine-tuned seed means |A - B| median 0.50" in report


def test_per_model_lines_say_so_when_no_set_has_a_known_domain(tmp_path):
    """Runs that differ in a domain hash but record no dataset -> domain map: the per-model lines are left out
    with a reason, never computed on sets whose corpus may differ."""
    for root in (tmp_path / "a", tmp_path / "b"):
        results_tree(root, [0.10, 0.20], [0.01, 0.5])
        record = json.loads((root / "environment.json").read_text())
        record["corpus_hashes"]["domains"] = {"add23": root.name}
        (root / "environment.json").write_text(json.dumps(record))
    report, _ = compare_runs(tmp_path / "a", tmp_path / "b")
    assert "per model: left out, no test set is known to come from a domain whose corpus is the same" in report
    assert "per model, EER points" not in report


def test_sets_count_as_the_same_corpus_only_where_both_runs_agree(tmp_path):
    """Equal domain hashes: every set compared, recorded mapping or not. Differing hashes: a set whose two
    recorded domains disagree is left out; a set recorded by one run only follows that run's mapping."""
    equal = {"corpus_hashes": {"domains": {"add23": "a"}}}
    sets = pd.Series(["add23", "itw", "dv"])
    assert same_corpus_sets(sets, equal, equal).all()
    first = {"corpus_hashes": {"domains": {"add23": "a", "itw": "b", "dfe24": "x"},
                               "datasets": {"add23": "add23", "itw": "itw", "dv": "dfe24"}}}
    second = {"corpus_hashes": {"domains": {"add23": "a", "itw": "b", "dfe24": "y"},
                                "datasets": {"add23": "add23", "itw": "dfe24"}}}
    assert list(same_corpus_sets(sets, first, second)) == [True, False, False]


def test_runs_whose_bootstrap_drew_other_units_are_flagged(tmp_path):
    first = results_tree(tmp_path / "a", [0.10, 0.20], [0.01, 0.5])
    second = results_tree(tmp_path / "b", [0.10, 0.20], [0.01, 0.5])
    pd.DataFrame({"dataset": ["add23", "itw"]}).to_csv(first / "eer_intervals.csv", index=False)  # before 99a1303
    pd.DataFrame({"dataset": ["add23", "itw"], "resampled": ["recordings", "utterances"]}).to_csv(
        second / "eer_intervals.csv", index=False)
    report, _ = compare_runs(first, second)
    assert "WARNING: the bootstrap resampled other units in A and B for add23 (utterances vs recordings)" in report
    assert "itw (" not in report                                             # drew utterances in both
    pd.DataFrame({"dataset": ["add23", "itw"], "resampled": ["utterances", "utterances"]}).to_csv(
        second / "eer_intervals.csv", index=False)
    assert "WARNING" not in compare_runs(first, second)[0]
    (second / "eer_intervals.csv").unlink()                                    # nothing to compare: no warning
    assert "WARNING" not in compare_runs(first, second)[0]
