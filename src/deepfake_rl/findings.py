"""The paper's findings, each checked on our results by the paired test it rests on.

The GRPO paper (arXiv 2603.02914, Table 1 and section 3.3) draws its conclusions from differences of EER
averages. Each is restated here as one comparison of two methods on one column of ``significance.csv`` (the
paired bootstrap of ``deepfake_rl.uncertainty``) and an expected sign, so the verdict is read off the test
instead of off a table by eye: *reproduced* when the difference has the paper's sign and p < alpha,
*opposite* when it has the other sign and p < alpha, *not resolved* otherwise. "Parity" findings (no
difference expected) read *parity* when p >= alpha and *differs* otherwise; non-significance is not proof of
equality, so the interval is printed with every verdict.

In-domain findings use the in-domain average (``avg:in_domain`` rows, Table 1's column, as the paper reads
them): the five DFE24 columns are segmentations of the same recordings, and the test draws those recordings
once for all five. Where significance.csv has no such row (an older table, or recordings not resampled) they
use the first single in-domain set, DFE24 4 s. Out-of-domain findings use the average over the out-of-domain
sets (``avg:out_of_domain`` rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ALPHA = 0.05
OUT_OF_DOMAIN = "avg:out_of_domain"
IN_DOMAIN = "avg:in_domain"


@dataclass(frozen=True)
class Finding:
    """One conclusion of the paper as a signed paired comparison: EER(method_a) - EER(method_b) on `column`."""

    claim: str
    method_a: str
    method_b: str
    column: str          # "in_domain" (the in-domain set) or "out_of_domain" (the average row)
    expected: str        # "+" (a has the higher EER), "-" (a lower) or "=" (parity)


FINDINGS: tuple[Finding, ...] = (
    Finding("SFT improves the target domain", "sft", "none", "in_domain", "-"),
    Finding("SFT forgets: out-of-domain EER rises", "sft", "none", "out_of_domain", "+"),
    Finding("GRPO keeps out-of-domain EER near the post-trained level", "grpo", "none", "out_of_domain", "="),
    Finding("GRPO generalises better than SFT out of domain", "grpo", "sft", "out_of_domain", "-"),
    Finding("GRPO reaches in-domain parity with SFT", "grpo", "sft", "in_domain", "="),
    Finding("SFT -> GRPO is worse out of domain than GRPO", "sft_grpo", "grpo", "out_of_domain", "+"),
    Finding("beta = 1 is too strong: worse in domain than beta = 0.04", "grpo_beta1", "grpo", "in_domain", "+"),
    Finding("w/o neg. lies between GRPO and SFT out of domain (vs GRPO)", "grpo_noneg", "grpo", "out_of_domain",
            "+"),
    Finding("w/o neg. lies between GRPO and SFT out of domain (vs SFT)", "grpo_noneg", "sft", "out_of_domain",
            "-"),
    Finding("Post-training matters for GRPO (in domain)", "pre_grpo", "grpo", "in_domain", "+"),
    Finding("Post-training matters for SFT (in domain)", "pre_sft", "sft", "in_domain", "+"),
    Finding("Post-training matters for GRPO (out of domain)", "pre_grpo", "grpo", "out_of_domain", "+"),
)

COLUMNS = ["model", "claim", "comparison", "column", "eer_a", "eer_b", "difference", "low", "high", "p_value",
           "verdict"]


def verdict(difference: float, p_value: float, expected: str, alpha: float = ALPHA) -> str:
    """The reading of one paired test against the paper's expected sign ("+", "-" or "=")."""
    if not np.isfinite(difference) or not np.isfinite(p_value):
        return "not tested"
    significant = p_value < alpha
    if expected == "=":
        return "differs" if significant else "parity"
    if not significant:
        return "not resolved"
    return "reproduced" if (difference > 0) == (expected == "+") else "opposite"


def default_in_domain_set(significance: pd.DataFrame) -> str:
    """The in-domain column findings use when none is named: the in-domain average where tested, else the
    first single set of significance.csv (its rows follow the score files, the config's first in-domain set
    first: DFE24 4 s in the default)."""
    names = significance["dataset"].drop_duplicates().astype(str).tolist()
    if IN_DOMAIN in names:
        return IN_DOMAIN
    datasets = [name for name in names if not name.startswith("avg:")]
    return datasets[0] if datasets else ""


def findings_table(significance: pd.DataFrame, in_domain_set: str, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per model x finding whose comparison is in `significance` (EERs in percent)."""
    columns = {"in_domain": in_domain_set, "out_of_domain": OUT_OF_DOMAIN}
    records = []
    for model in significance["model"].drop_duplicates():
        rows = significance.loc[significance["model"] == model].set_index(["dataset", "method_a", "method_b"])
        for finding in FINDINGS:
            key = (columns[finding.column], finding.method_a, finding.method_b)
            if key not in rows.index:
                continue
            test = rows.loc[key]
            records.append({
                "model": model, "claim": finding.claim, "comparison": f"{finding.method_a} - {finding.method_b}",
                "column": key[0], **{name: 100 * float(test[name]) for name in ("eer_a", "eer_b", "difference",
                                                                                 "low", "high")},
                "p_value": float(test["p_value"]),
                "verdict": verdict(float(test["difference"]), float(test["p_value"]), finding.expected, alpha)})
    return pd.DataFrame(records, columns=COLUMNS)
