"""Two results trees side by side: did the corpus, the numbers or the conclusions change?

Tables from two machines (or two commits) are compared knowingly: first what produced them (corpus
hashes, CPU, torch and its CPU kernels, package versions, from `results/environment.json`), then how
far the per-run EERs moved (`eer_long.csv`), per model against the spread of its fine-tuning seeds, and
last whether any paired test changed its verdict (`significance.csv`: significant with the same sign,
significant with the other sign, or not significant), which is what the README's conclusions rest on.

The per-model lines tell two kinds of change apart. Every fine-tuned run of a model starts from its one
un-fine-tuned checkpoint (method "none": the post-trained detector), so a rounding difference that changes
that checkpoint shifts all the model's fine-tuned rows together, by more than a new draw of fine-tuning
seeds would; where that checkpoint came out the same, fine-tuned seed means move by about the seed spread.
"""

from __future__ import annotations

import json
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfake_rl.findings import ALPHA

RUN_KEYS = ["model", "method", "seed", "dataset"]
TEST_KEYS = ["model", "dataset", "method_a", "method_b"]


def verdict(difference: pd.Series, p_value: pd.Series, alpha: float) -> pd.Series:
    """'+' / '-': a significant difference and its sign (EER a - b); '0': not significant."""
    sign = np.where(difference > 0, "+", "-")
    return pd.Series(np.where(p_value < alpha, sign, "0"), index=difference.index)


# Fields of environment.json that say when and where a run was recorded, not what produced its numbers
# (the commit is printed on its own line, the corpus through its hashes).
NOT_COMPARED = ("created_utc", "cpu.load_average_1_5_15_min", "cpu.mhz", "python.executable", "git.commit", "corpus_hashes.")


def flat_fields(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Every leaf of a nested record as dotted key -> value (e.g. "packages.torch")."""
    fields: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            fields.update(flat_fields(value, f"{prefix}{key}."))
        else:
            fields[f"{prefix}{key}"] = value
    return fields


def environment_differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """What produced the two runs, where it differs: the corpus (per domain) and every other field of the record
    (CPU, platform, Python, torch and its kernels, BLAS, the pinned numerics variables, packages, tools)."""
    lines = []
    hashes = [env.get("corpus_hashes", {}) for env in (first, second)]
    if hashes[0].get("corpus") != hashes[1].get("corpus"):
        domains = [hash_.get("domains", {}) for hash_ in hashes]
        changed = [d for d in sorted(set(domains[0]) | set(domains[1])) if domains[0].get(d) != domains[1].get(d)]
        lines.append(f"corpus hash differs (other audio) in domains: {', '.join(changed) or 'all'}")
    fields = [flat_fields(env) for env in (first, second)]
    for key in sorted(set(fields[0]) | set(fields[1])):
        a, b = fields[0].get(key), fields[1].get(key)
        if a != b and not key.startswith(NOT_COMPARED):
            lines.append(f"{key}: {shown_difference(a, b)}")
    return lines


def shown_difference(first: Any, second: Any, width: int = 60) -> str:
    """Two differing values on one line: the first line where they differ (torch's build configuration has
    many), from a little before the first differing character, each cut to about `width` characters."""
    lines = [str(first).splitlines() or [""], str(second).splitlines() or [""]]
    number = next((i for i, (a, b) in enumerate(zip_longest(*lines, fillvalue="")) if a != b), 0)
    texts = [text[number] if number < len(text) else "" for text in lines]
    column = next((i for i, (a, b) in enumerate(zip_longest(*texts, fillvalue="")) if a != b), 0)
    begin = max(0, column - width // 4)
    cut = [("..." if begin else "") + text[begin:begin + width] + ("..." if len(text) > begin + width else "")
           for text in texts]
    where = f"line {number + 1}: " if max(len(text) for text in lines) > 1 else ""
    return f"{where}{cut[0]} vs {cut[1]}"


def same_corpus_sets(datasets: pd.Series, first: dict[str, Any], second: dict[str, Any]) -> pd.Series:
    """Which test sets come from a domain whose corpus hash is the same in both runs: all where the two runs'
    domain hashes are equal (or neither records any); else by each set's domain, the config's, recorded in
    environment.json (corpus_hashes.datasets). A set whose domain is not recorded, or recorded differently by
    the two runs, counts as not the same."""
    hashes = [env.get("corpus_hashes", {}) for env in (first, second)]
    domains = [record.get("domains", {}) for record in hashes]
    if domains[0] == domains[1]:
        return pd.Series(True, index=datasets.index)
    equal = {domain for domain in domains[0] if domains[0][domain] == domains[1].get(domain)}
    recorded = [record.get("datasets") or {} for record in hashes]

    def domain_of(name: str) -> str | None:
        named = {mapping[name] for mapping in recorded if name in mapping}
        return named.pop() if len(named) == 1 else None

    return datasets.map(lambda name: domain_of(name) in equal)


def movement_by_model(runs: pd.DataFrame) -> list[str]:
    """Per model (runs: eer_long rows of both, merged, eer_a / eer_b): how far its un-fine-tuned run ("none")
    moved, and how far its fine-tuned seed means moved against the standard deviation over seeds in A."""
    lines = []
    for model, group in runs.groupby("model", sort=False):
        initial = group[group["method"] == "none"]
        moved = (initial["eer_a"] - initial["eer_b"]).abs() * 100
        parts = [f"none: {int((moved == 0).sum())} of {len(moved)} sets equal, |A - B| median {moved.median():.2f}"
                 if len(moved) else "none: not in both"]
        tuned = group[group["method"] != "none"].groupby(["method", "dataset"], sort=False)
        cells = tuned.agg(mean_a=("eer_a", "mean"), mean_b=("eer_b", "mean"), spread=("eer_a", "std"),
                          seeds=("eer_a", "size"))
        cells = cells[cells["seeds"] > 1]
        if len(cells):
            shift = ((cells["mean_a"] - cells["mean_b"]).abs() * 100).median()
            spread = cells["spread"].median() * 100
            parts.append(f"fine-tuned seed means |A - B| median {shift:.2f} against a seed s.d. of {spread:.2f} "
                         f"in A (median over {len(cells)} method x set cells)")
        lines.append(f"  {model}: " + "; ".join(parts))
    return lines


def resampled_units(root: Path) -> dict[str, str]:
    """Test set -> the unit its bootstrap drew ("recordings" or "utterances"), from the run's
    eer_intervals.csv; tables made before 99a1303 have no `resampled` column and drew utterances.
    Empty when the run has no intervals table."""
    path = root / "eer_intervals.csv"
    if not path.is_file():
        return {}
    intervals = pd.read_csv(path)
    if "resampled" not in intervals:
        return dict.fromkeys(intervals["dataset"].unique(), "utterances")
    return intervals.groupby("dataset", sort=False)["resampled"].first().to_dict()


def resampling_difference(first: Path, second: Path) -> list[str]:
    """A warning when the two runs' paired tests drew different units for some test set: their verdicts
    then differ by the analysis as well as by the models, and the older tree should be rerun first."""
    units = [resampled_units(root) for root in (first, second)]
    differing = [name for name in units[0] if name in units[1] and units[0][name] != units[1][name]]
    if not differing:
        return []
    shown = ", ".join(f"{name} ({units[0][name]} vs {units[1][name]})" for name in differing)
    return [f"WARNING: the bootstrap resampled other units in A and B for {shown}: verdict changes below mix the "
            "analysis with the models; rerun `snakemake` in the older tree first (only `uncertainty` reruns)"]


def compare_runs(first: str | Path, second: str | Path, alpha: float = ALPHA) -> tuple[str, int]:
    """A plain-text report and the number of paired tests whose verdict differs."""
    first, second = Path(first), Path(second)
    lines = [f"A: {first}", f"B: {second}"]
    environments = [json.loads((root / "environment.json").read_text()) for root in (first, second)]
    commits = [env.get("git", {}).get("commit", "?")[:12] for env in environments]
    lines.append(f"commits: {commits[0]} vs {commits[1]}")
    differences = environment_differences(*environments)
    same = ("environment: the same corpus hash and the same record otherwise (CPU, platform, torch and its "
            "kernels, BLAS, numerics variables, packages, tools)")
    lines += [same] if not differences else ["environment differs:"] + [f"  {line}" for line in differences]
    runs = pd.read_csv(first / "eer_long.csv").merge(pd.read_csv(second / "eer_long.csv"), on=RUN_KEYS,
                                                      suffixes=("_a", "_b"))
    moved = (runs["eer_a"] - runs["eer_b"]).abs() * 100
    lines.append(f"per-run EER: {len(runs)} runs x sets in both; {int((moved == 0).sum())} equal; "
                 f"|A - B| median {moved.median():.2f}, max {moved.max():.2f} points")
    same = same_corpus_sets(runs["dataset"], *environments)
    if len(runs) and same.any():
        where = "all sets" if same.all() else \
            f"on the sets whose corpus is the same bytes in both ({', '.join(runs.loc[same, 'dataset'].unique())})"
        lines += [f"per model, EER points, {where}:"] + movement_by_model(runs[same])
    elif len(runs):
        lines.append("per model: left out, no test set is known to come from a domain whose corpus is the same "
                     "bytes in both (no environment.json records corpus_hashes.datasets, or only one records domain hashes, "
                     "or every domain differs)")
    tests = pd.read_csv(first / "significance.csv").merge(pd.read_csv(second / "significance.csv"),
                                                           on=TEST_KEYS, suffixes=("_a", "_b"))
    lines += resampling_difference(first, second)
    tests["verdict_a"] = verdict(tests["difference_a"], tests["p_value_a"], alpha)
    tests["verdict_b"] = verdict(tests["difference_b"], tests["p_value_b"], alpha)
    changed = tests[tests["verdict_a"] != tests["verdict_b"]]
    significant = [int((tests[column] != "0").sum()) for column in ("verdict_a", "verdict_b")]
    lines.append(f"paired tests (p < {alpha}): {len(tests)} in both; significant in A {significant[0]}, "
                 f"in B {significant[1]}; verdict changed in {len(changed)}")
    if len(changed):
        shown = changed[TEST_KEYS + ["difference_a", "p_value_a", "difference_b", "p_value_b"]].copy()
        shown[["difference_a", "difference_b"]] *= 100
        lines.append(shown.round(4).to_string(index=False))
    return "\n".join(lines), len(changed)
