"""Do the paper's findings read the same in several runs? Verdicts and Table 1 averages side by side.

Every fine-tuned row and every comparison with "none" rests on one post-trained detector per model, and the
paired bootstrap of significance.csv resamples test recordings, not that detector. Runs of the workflow that
differ in one setting (e.g. `posttrain.seed`, another machine) show how far the verdicts depend on it:

    printf 'posttrain: {seed: 1}\\n' > seed1.yaml
    snakemake --profile profiles/local --configfile config/config.yaml seed1.yaml   # in a copy of the run
    python benchmarks/findings_across_runs.py run0/results run1/results run2/results

Prints, per model and finding, the difference (EER points), p and verdict of each run and whether the
verdicts agree; then the in-domain and out-of-domain averages of every Table 1 row in each run with their
range. `compare-runs` compares two runs in depth (environment, every per-run EER); this lines up many.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from deepfake_rl.findings import default_in_domain_set, findings_table

AVERAGES = ["in-domain ave.", "out-of-domain ave."]


def findings_across(significance: dict[str, pd.DataFrame], in_domain: str | None = None) -> pd.DataFrame:
    """One row per model x finding: each run's "difference (p) verdict" and whether all verdicts agree.
    In-domain findings read `in_domain` (a dataset of significance.csv), else each table's default column."""
    tables = {label: findings_table(frame, in_domain or default_in_domain_set(frame)).set_index(["model", "claim"])
              for label, frame in significance.items()}
    keys = list(dict.fromkeys(key for table in tables.values() for key in table.index))
    records = []
    for model, claim in keys:
        record: dict[str, str] = {"model": model, "finding": claim}
        verdicts = set()
        for label, table in tables.items():
            if (model, claim) not in table.index:
                record[label] = "-"
                verdicts.add("missing")
                continue
            row = table.loc[(model, claim)]
            record[label] = f"{row['difference']:+.2f} (p {row['p_value']:.3f}) {row['verdict']}"
            verdicts.add(row["verdict"])
        record["same verdict"] = "yes" if len(verdicts) == 1 else "no"
        records.append(record)
    return pd.DataFrame(records)


def averages_across(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 1's two averages per row in each run, with their range (max - min) over the runs."""
    keyed = {label: table.set_index(["row", "model", "finetune"])[AVERAGES] for label, table in tables.items()}
    first = next(iter(keyed.values()))
    out = first.index.to_frame(index=False)
    for column in AVERAGES:
        values = pd.DataFrame({label: table[column] for label, table in keyed.items()}).loc[first.index]
        for label in keyed:
            out[f"{column} {label}"] = values[label].to_numpy()
        out[f"{column} range"] = (values.max(axis=1) - values.min(axis=1)).to_numpy()
    return out


def labels_of(results: Sequence[Path]) -> list[str]:
    """A short label per results folder: its parent's name (the run's folder), else the path itself."""
    labels = [path.absolute().parent.name or str(path) for path in results]
    return labels if len(set(labels)) == len(labels) else [str(path) for path in results]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, nargs="+", help="results/ folders of finished runs")
    parser.add_argument("--in-domain", metavar="SET", help="the in-domain column of the in-domain findings, e.g. "
                        "dfe24_4s (default: avg:in_domain where tested, else the first single set)")
    args = parser.parse_args(argv)
    labels = labels_of(args.results)
    for path in args.results:
        for name in ("significance.csv", "table1.csv"):
            if not (path / name).is_file():
                raise SystemExit(f"{path / name}: not found (a results/ folder of a finished run?)")
    significance = {label: pd.read_csv(path / "significance.csv") for label, path in zip(labels, args.results)}
    findings = findings_across(significance, args.in_domain)
    print(findings.to_markdown(index=False))
    agreeing = int((findings["same verdict"] == "yes").sum())
    print(f"\n{agreeing} of {len(findings)} findings have the same verdict in all {len(labels)} runs\n")
    tables = {label: pd.read_csv(path / "table1.csv") for label, path in zip(labels, args.results)}
    print(averages_across(tables).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
