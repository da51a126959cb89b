"""EER aggregation into the paper's Table 1 layout: one row per (model, method) in the paper's row
order and ids, one column per test set, in-domain and out-of-domain averages, means over seeds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfake_rl.io_utils import atomic_path
from deepfake_rl.run_paths import SCORES, run_keys
from deepfake_rl.metrics import UndefinedMetricError, detection_metrics, eer_from_labels


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 1."""

    row: int
    model: str
    method: str
    pretrain: bool
    posttrain: bool
    finetune: str   # the fine-tuning label printed by the paper ("x" for none)


_FINETUNE_LABELS = {
    "none": "x", "sft": "SFT", "grpo_s": "GRPO_s", "grpo": "GRPO", "sft_grpo_s": "SFT -> GRPO_s",
    "sft_grpo": "SFT -> GRPO", "grpo_beta0": "GRPO (beta=0)", "grpo_beta1": "GRPO (beta=1)",
    "grpo_noneg": "GRPO w/o neg.", "pre_sft": "SFT", "pre_grpo_s": "GRPO_s", "pre_grpo": "GRPO",
}
_LARGEST = ["none", "sft", "grpo_s", "grpo", "sft_grpo_s", "sft_grpo", "grpo_beta0", "grpo_beta1", "grpo_noneg",
            "pre_sft", "pre_grpo_s", "pre_grpo"]
_SMALLER = ["none", "sft", "grpo_s", "grpo"]


def _rows() -> list[PaperRow]:
    rows: list[PaperRow] = []
    for model, methods in (("xlsr_2b", _LARGEST), ("mms_1b", _SMALLER), ("mms_300m", _SMALLER)):
        for method in methods:
            rows.append(PaperRow(len(rows) + 1, model, method, True, not method.startswith("pre_"),
                                 _FINETUNE_LABELS[method]))
    return rows


PAPER_ROWS: tuple[PaperRow, ...] = tuple(_rows())


def finetune_label(method: str) -> str:
    return _FINETUNE_LABELS.get(method, method)


def seed_means(eer_long: pd.DataFrame) -> pd.DataFrame:
    """Mean EER over seeds per (model, method, dataset); NaN stays NaN (undefined EER is not averaged away)."""
    return (eer_long.groupby(["model", "method", "dataset"], sort=False)["eer"]
            .mean().reset_index())


def make_table1(eer_long: pd.DataFrame, test_sets: dict[str, dict[str, str]],
                model_labels: dict[str, str]) -> pd.DataFrame:
    """The paper's Table 1 (EER in %) for the (model, method) pairs present in eer_long.

    Rows follow the paper's ids and order; pairs that are not paper rows are appended after them
    with ids continuing the numbering."""
    means = seed_means(eer_long)
    means = means[means["dataset"].isin([*test_sets["in_domain"], *test_sets["out_of_domain"]])]
    in_domain, out_domain = test_sets["in_domain"], test_sets["out_of_domain"]
    pivot = means.set_index(["model", "method", "dataset"])["eer"].unstack("dataset")
    present = list(pivot.index)
    ordered = [r for r in PAPER_ROWS if (r.model, r.method) in present]
    known = {(r.model, r.method) for r in ordered}
    extra = [PaperRow(len(PAPER_ROWS) + i + 1, m, k, True, not k.startswith("pre_"), finetune_label(k))
             for i, (m, k) in enumerate(p for p in present if p not in known)]
    records: list[dict[str, Any]] = []
    for row in (*ordered, *extra):
        values = pivot.loc[(row.model, row.method)]
        record: dict[str, Any] = {"row": row.row, "model": model_labels.get(row.model, row.model),
                                  "pretrain": "yes" if row.pretrain else "no",
                                  "posttrain": "yes" if row.posttrain else "no", "finetune": row.finetune}
        for dataset, label in in_domain.items():
            record[label] = 100 * values.get(dataset, np.nan)
        record["in-domain ave."] = np.mean([record[label] for label in in_domain.values()])
        for dataset, label in out_domain.items():
            record[label] = 100 * values.get(dataset, np.nan)
        record["out-of-domain ave."] = np.mean([record[label] for label in out_domain.values()])
        records.append(record)
    return pd.DataFrame(records).round(2)


def scored_runs(score_files: Sequence[str | Path]) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """(model, method, seed, dataset) and the scores table of each scores CSV, from its path."""
    for path in score_files:
        yield run_keys(path, SCORES), pd.read_csv(path)


def eer_table(score_files: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run x test set: model, method, seed, dataset, trial counts and EER (NaN if undefined)."""
    records = []
    for keys, frame in scored_runs(score_files):
        try:
            eer, note = eer_from_labels(frame["score"].to_numpy(), frame["label"].to_numpy()), ""
        except UndefinedMetricError as error:
            eer, note = float("nan"), str(error)
        records.append({**keys, "n_real": int((frame["label"] == 1).sum()),
                        "n_fake": int((frame["label"] == 0).sum()), "eer": eer, "note": note})
    return pd.DataFrame(records)


METRIC_COLUMNS = ("eer", "min_dcf", "act_dcf", "cllr", "auc", "acc")


def metrics_long(score_files: Sequence[str | Path], metrics_csv: str | Path) -> pd.DataFrame:
    """results/metrics_long.csv: EER, minDCF, actDCF (ASVspoof 5 costs), Cllr, AUC and ACC per run x test
    set; a set with one class gets NaN and a note, never a made-up number."""
    records = []
    for keys, frame in scored_runs(score_files):
        try:
            values, note = detection_metrics(frame["label"].to_numpy(), frame["logit_fake"].to_numpy(),
                                             frame["logit_real"].to_numpy()), ""
        except UndefinedMetricError as error:
            values, note = dict.fromkeys(METRIC_COLUMNS, float("nan")), str(error)
        records.append({**keys, **values, "n_trials": len(frame), "note": note})
    table = pd.DataFrame(records)
    with atomic_path(metrics_csv) as temporary:
        table.to_csv(temporary, index=False, float_format="%.6f")
    return table


def table1(score_files: Sequence[str | Path], test_sets: Mapping[str, Mapping[str, str]],
           model_labels: Mapping[str, str], eer_long_csv: str | Path, table_csv: str | Path,
           methods: Sequence[str] | None = None) -> pd.DataFrame:
    """results/eer_long.csv (every run x test set x seed) and results/table1.csv (paper layout) of
    the runs of `methods` (None: all; TSRL's methods belong to Table 2)."""
    long = eer_table(score_files)
    with atomic_path(eer_long_csv) as temporary:
        long.to_csv(temporary, index=False, float_format="%.6f")
    rows = long if methods is None else long[long["method"].isin(list(methods))]
    table = make_table1(rows, {k: dict(v) for k, v in test_sets.items()}, dict(model_labels))
    with atomic_path(table_csv) as temporary:
        table.to_csv(temporary, index=False)
    return table


def make_table2(metrics: pd.DataFrame, out_of_domain: Mapping[str, str], model_labels: Mapping[str, str],
                methods: Mapping[str, str], metric_labels: Mapping[str, str]) -> pd.DataFrame:
    """TSRL's Table 2 layout: per model, a block of rows per metric with one row per method; the
    out-of-domain test sets as columns and their average; means over seeds (fractions, as TSRL
    prints them). Methods or models without runs are left out; a missing cell stays NaN."""
    present = metrics[metrics["method"].isin(list(methods)) & metrics["dataset"].isin(list(out_of_domain))]
    means = present.groupby(["model", "method", "dataset"], sort=False)[list(metric_labels)].mean()
    records: list[dict[str, Any]] = []
    for model in dict.fromkeys(present["model"]):
        for metric, metric_label in metric_labels.items():
            for method, method_label in methods.items():
                if (model, method) not in means.index.droplevel("dataset"):
                    continue
                values = means.loc[(model, method)][metric]
                record: dict[str, Any] = {"model": model_labels.get(model, model), "metric": metric_label,
                                          "method": method_label}
                record.update({label: values.get(dataset, np.nan) for dataset, label in out_of_domain.items()})
                record["Avg."] = np.mean([record[label] for label in out_of_domain.values()])
                records.append(record)
    return pd.DataFrame(records).round(3)


def table2(metrics_csv: str | Path, out_of_domain: Mapping[str, str], model_labels: Mapping[str, str],
           methods: Mapping[str, str], metric_labels: Mapping[str, str], table_csv: str | Path) -> pd.DataFrame:
    """results/table2.csv from results/metrics_long.csv."""
    table = make_table2(pd.read_csv(metrics_csv), dict(out_of_domain), dict(model_labels), dict(methods),
                        dict(metric_labels))
    with atomic_path(table_csv) as temporary:
        table.to_csv(temporary, index=False)
    return table
