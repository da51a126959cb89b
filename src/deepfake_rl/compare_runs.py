"""Two results trees side by side: did the corpus, the numbers or the conclusions change?

Tables from two machines (or two commits) are compared knowingly: first what produced them (corpus
hashes, CPU, torch and its CPU kernels, package versions, from `results/environment.json`), then how
far the per-run EERs moved (`eer_long.csv`), and last whether any paired test changed its verdict
(`significance.csv`: significant with the same sign, significant with the other sign, or not
significant), which is what the README's conclusions rest on.
"""

from __future__ import annotations

import json
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
NOT_COMPARED = ("created_utc", "cpu.load_average_1_5_15_min", "python.executable", "git.", "corpus_hashes.")


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
            shown = [str(value) if len(str(value)) <= 80 else str(value)[:77] + "..." for value in (a, b)]
            lines.append(f"{key}: {shown[0]} vs {shown[1]}")
    return lines


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
    tests = pd.read_csv(first / "significance.csv").merge(pd.read_csv(second / "significance.csv"),
                                                           on=TEST_KEYS, suffixes=("_a", "_b"))
    tests["verdict_a"] = verdict(tests["difference_a"], tests["p_value_a"], alpha)
    tests["verdict_b"] = verdict(tests["difference_b"], tests["p_value_b"], alpha)
    changed = tests[tests["verdict_a"] != tests["verdict_b"]]
    lines.append(f"paired tests (p < {alpha}): {len(tests)} in both; significant in A {int((tests.verdict_a != '0').sum())},"
                 f" in B {int((tests.verdict_b != '0').sum())}; verdict changed in {len(changed)}")
    if len(changed):
        shown = changed[TEST_KEYS + ["difference_a", "p_value_a", "difference_b", "p_value_b"]].copy()
        shown[["difference_a", "difference_b"]] *= 100
        lines.append(shown.round(4).to_string(index=False))
    return "\n".join(lines), len(changed)
