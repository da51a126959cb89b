"""EER aggregation into the paper's Table 1 layout: one row per (model, method) in the paper's row
order and ids, one column per test set, in-domain and out-of-domain averages, means over seeds.

Every metric is computed on both scores (metrics.ranking_score): the paper's real logit (`eer`, Table 1)
and the authors' evaluation.py softmax P(real) (`eer_preal` and the other `*_preal` columns,
table1_preal.csv)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfake_rl.io_utils import atomic_path
from deepfake_rl.run_paths import SCORES, run_keys
from deepfake_rl.metrics import SCORE_KINDS, UndefinedMetricError, detection_metrics, eer_from_labels, ranking_score


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


# suffix of a metric's column per score kind: `eer` is the paper's score, `eer_preal` the authors' P(real)
SCORE_SUFFIX = {"logit": "", "p_real": "_preal"}


def seed_means(eer_long: pd.DataFrame, column: str = "eer") -> pd.DataFrame:
    """Mean EER over seeds per (model, method, dataset); NaN stays NaN (undefined EER is not averaged away)."""
    return (eer_long.groupby(["model", "method", "dataset"], sort=False)[column]
            .mean().rename("eer").reset_index())


def make_table1(eer_long: pd.DataFrame, test_sets: dict[str, dict[str, str]],
                model_labels: dict[str, str], column: str = "eer") -> pd.DataFrame:
    """The paper's Table 1 (EER in %) for the (model, method) pairs present in eer_long, from its EER
    column `column` (eer: the paper's score; eer_preal: P(real)).

    Rows follow the paper's ids and order; pairs that are not paper rows are appended after them
    with ids continuing the numbering."""
    means = seed_means(eer_long, column)
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
    """One row per run x test set: model, method, seed, dataset, trial counts, EER of the paper's score
    (`eer`, logit_real) and of P(real) (`eer_preal`), ranked as detection_metrics ranks them
    (metrics.ranking_score), so the two tables cannot disagree; NaN and a note if undefined."""
    records = []
    for keys, frame in scored_runs(score_files):
        labels = frame["label"].to_numpy()
        try:
            eers = {f"eer{SCORE_SUFFIX[kind]}": eer_from_labels(ranking_score(
                frame["logit_fake"].to_numpy(), frame["logit_real"].to_numpy(), kind), labels) for kind in SCORE_KINDS}
            note = ""
        except UndefinedMetricError as error:
            eers, note = {f"eer{SCORE_SUFFIX[kind]}": float("nan") for kind in SCORE_KINDS}, str(error)
        records.append({**keys, "n_real": int((labels == 1).sum()), "n_fake": int((labels == 0).sum()), **eers,
                        "note": note})
    return pd.DataFrame(records)


METRIC_COLUMNS = ("eer", "min_dcf", "act_dcf", "cllr", "auc", "acc")


def metrics_long(score_files: Sequence[str | Path], metrics_csv: str | Path) -> pd.DataFrame:
    """results/metrics_long.csv: EER, minDCF, actDCF (ASVspoof 5 costs), Cllr, AUC and ACC per run x test
    set, for the paper's score (plain columns) and for P(real) (the same names + `_preal`); a set with one
    class gets NaN and a note, never a made-up number."""
    records = []
    for keys, frame in scored_runs(score_files):
        columns = (frame["label"].to_numpy(), frame["logit_fake"].to_numpy(), frame["logit_real"].to_numpy())
        values: dict[str, float] = {}
        try:
            for kind in SCORE_KINDS:
                metrics = detection_metrics(*columns, kind=kind)
                values.update({f"{name}{SCORE_SUFFIX[kind]}": value for name, value in metrics.items()})
            note = ""
        except UndefinedMetricError as error:
            values = {f"{name}{SCORE_SUFFIX[kind]}": float("nan") for kind in SCORE_KINDS for name in METRIC_COLUMNS}
            note = str(error)
        records.append({**keys, **values, "n_trials": len(frame), "note": note})
    table = pd.DataFrame(records)
    with atomic_path(metrics_csv) as temporary:
        table.to_csv(temporary, index=False, float_format="%.6f")
    return table


def table1(score_files: Sequence[str | Path], test_sets: Mapping[str, Mapping[str, str]],
           model_labels: Mapping[str, str], eer_long_csv: str | Path, table_csv: str | Path,
           methods: Sequence[str] | None = None, preal_table_csv: str | Path | None = None) -> pd.DataFrame:
    """results/eer_long.csv (every run x test set x seed, both scores), results/table1.csv (paper layout,
    the paper's score) and, if `preal_table_csv` is given, the same layout on P(real) (table1_preal.csv),
    of the runs of `methods` (None: all; TSRL's methods belong to Table 2). Returns Table 1."""
    long = eer_table(score_files)
    with atomic_path(eer_long_csv) as temporary:
        long.to_csv(temporary, index=False, float_format="%.6f")
    rows = long if methods is None else long[long["method"].isin(list(methods))]
    outputs = {"eer": table_csv} | ({"eer_preal": preal_table_csv} if preal_table_csv is not None else {})
    tables = {column: make_table1(rows, {k: dict(v) for k, v in test_sets.items()}, dict(model_labels), column)
              for column in outputs}
    for column, path in outputs.items():
        with atomic_path(path) as temporary:
            tables[column].to_csv(temporary, index=False)
    return tables["eer"]


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
