"""The paper's findings read off paired tests: the verdict rules and the table built from significance.csv."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfake_rl.findings import FINDINGS, OUT_OF_DOMAIN, findings_table, verdict


@pytest.mark.parametrize("difference, p_value, expected, reading", [
    (0.03, 0.01, "+", "reproduced"), (-0.03, 0.01, "+", "opposite"), (0.03, 0.2, "+", "not resolved"),
    (-0.03, 0.01, "-", "reproduced"), (0.03, 0.01, "-", "opposite"), (0.001, 0.6, "=", "parity"),
    (0.05, 0.001, "=", "differs"), (float("nan"), 0.5, "+", "not tested"),
])
def test_verdict_rules(difference, p_value, expected, reading):
    assert verdict(difference, p_value, expected) == reading


def test_table_uses_the_in_domain_set_and_the_out_of_domain_average():
    rows = [
        # model, dataset, a, b, eer_a, eer_b, difference, low, high, p
        ("m", "dfe24_4s", "sft", "none", 0.10, 0.25, -0.15, -0.2, -0.1, 0.001),
        ("m", "dfe24_10s", "sft", "none", 0.30, 0.25, 0.05, 0.0, 0.1, 0.001),    # not the in-domain set: ignored
        ("m", OUT_OF_DOMAIN, "sft", "none", 0.09, 0.04, 0.05, 0.02, 0.08, 0.002),
        ("m", OUT_OF_DOMAIN, "grpo", "none", 0.045, 0.04, 0.005, -0.01, 0.02, 0.4),
    ]
    significance = pd.DataFrame(rows, columns=["model", "dataset", "method_a", "method_b", "eer_a", "eer_b",
                                               "difference", "low", "high", "p_value"])
    table = findings_table(significance, "dfe24_4s")
    assert list(table["verdict"]) == ["reproduced", "reproduced", "parity"]
    assert list(table["column"]) == ["dfe24_4s", OUT_OF_DOMAIN, OUT_OF_DOMAIN]
    assert table.loc[0, "difference"] == pytest.approx(-15.0)      # percent
    assert table.loc[0, "claim"] == FINDINGS[0].claim


def test_in_domain_findings_read_the_in_domain_average_where_it_was_tested():
    from deepfake_rl.findings import IN_DOMAIN, default_in_domain_set

    columns = ["model", "dataset", "method_a", "method_b", "p_value"]
    single_sets = pd.DataFrame([("m", "dfe24_4s", "sft", "none", 0.5), ("m", "dfe24_10s", "sft", "none", 0.5),
                                ("m", OUT_OF_DOMAIN, "sft", "none", 0.5)], columns=columns)
    assert default_in_domain_set(single_sets) == "dfe24_4s"        # older tables: the first single set
    with_average = pd.concat([single_sets, pd.DataFrame([("m", IN_DOMAIN, "sft", "none", 0.5)], columns=columns)])
    assert default_in_domain_set(with_average) == IN_DOMAIN
