"""docs/results.md: every published number rendered from a results tree, never copied by hand.

`python -m deepfake_rl results-page` (or `snakemake docs/results.md`) reads results/ (Table 1, Table 1 on
P(real), Table 2, eer_long.csv, eer_intervals.csv, significance.csv, drift_summary.csv, environment.json;
each optional except Table 1) and writes one markdown page. Its main part (Table 1, the interval
half-widths, the count of significant comparisons and the machine) sits between MARKERS, so that
`--readme README.md` pastes exactly that part into the README between the same markers. The output
depends on the files only (no clock, no dict order of the filesystem): the same tree gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from deepfake_rl.io_utils import atomic_path

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
ALPHA = 0.05
MISSING = "n/a"


class ResultsPageError(ValueError):
    """A results tree or README the page cannot be made from; the message names the file."""


def markdown_table(frame: pd.DataFrame, decimals: int = 2, column_decimals: dict[str, int] | None = None) -> str:
    """A pipe table (GitHub markdown): numbers with a fixed number of decimals (per column where given),
    NaN as n/a."""
    formats = [f".{(column_decimals or {}).get(column, decimals)}f" for column in frame.columns]
    cells = frame.astype(object).where(frame.notna(), None)     # tabulate writes missingval for None only
    return cells.to_markdown(index=False, floatfmt=formats, missingval=MISSING)


def _read_csv(results: Path, name: str) -> pd.DataFrame | None:
    path = results / name
    return pd.read_csv(path) if path.is_file() else None


# ---- sections ---------------------------------------------------------------------------------------

def half_widths(intervals: pd.DataFrame, eer_long: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per test set (in first-seen order): median and largest half-width of the per-run 95 % bootstrap
    intervals in EER points, the number of runs, and (from eer_long.csv) the real/fake trial counts."""
    frame = intervals.assign(half_width=100.0 * (intervals["eer_high"] - intervals["eer_low"]) / 2.0)
    grouped = frame.groupby("dataset", sort=False)["half_width"]
    median = grouped.median()
    table = pd.DataFrame({"test set": median.index, "median half-width": median.to_numpy(),
                          "largest": grouped.max().to_numpy(), "runs": grouped.size().to_numpy()})
    if eer_long is not None and {"n_real", "n_fake"} <= set(eer_long.columns):
        trials = eer_long.groupby("dataset", sort=False)[["n_real", "n_fake"]].first()
        table["real trials"] = [trials["n_real"].get(name) for name in table["test set"]]
        table["fake trials"] = [trials["n_fake"].get(name) for name in table["test set"]]
    if "resampled" in intervals and (intervals["resampled"] == "recordings").all():
        counts = intervals.groupby("dataset", sort=False)[["n_resampled_real", "n_resampled_fake"]].first()
        table["real recordings"] = counts["n_resampled_real"].to_numpy()
        table["fake recordings"] = counts["n_resampled_fake"].to_numpy()
    return table


def resampled_unit(intervals: pd.DataFrame) -> str:
    """What the intervals' bootstrap drew, in words (tables written before the column existed: utterances)."""
    units = set(intervals["resampled"]) if "resampled" in intervals else {"utterances"}
    return "recordings (each with all its segments)" if units == {"recordings"} else "utterances"


def significance_summary(significance: pd.DataFrame) -> pd.DataFrame:
    """Per comparison (method_a vs method_b, first-seen order): tests, how many have p < ALPHA, and in
    which direction (a lower EER than b, or b lower)."""
    frame = significance.assign(significant=significance["p_value"] < ALPHA)
    records = []
    for (method_a, method_b), group in frame.groupby(["method_a", "method_b"], sort=False):
        hits = group[group["significant"]]
        records.append({"a": method_a, "b": method_b, "tests": len(group), f"p < {ALPHA}": len(hits),
                        "a lower": int((hits["difference"] < 0).sum()),
                        "b lower": int((hits["difference"] > 0).sum())})
    return pd.DataFrame(records, columns=["a", "b", "tests", f"p < {ALPHA}", "a lower", "b lower"])


def comparison_rows(significance: pd.DataFrame) -> pd.DataFrame:
    """Paired tests in EER points: model, test set, a, b, EER a, EER b, a - b, 95 % interval, p."""
    return pd.DataFrame({
        "model": significance["model"], "test set": significance["dataset"], "a": significance["method_a"],
        "b": significance["method_b"], "EER a": 100 * significance["eer_a"], "EER b": 100 * significance["eer_b"],
        "a - b": 100 * significance["difference"],
        "95 % interval": [f"[{100 * low:.2f}, {100 * high:.2f}]"
                          for low, high in zip(significance["low"], significance["high"])],
        "p": significance["p_value"]})


def environment_line(environment: dict[str, Any] | None) -> str:
    """One sentence naming the machine and the software the tables came from."""
    if environment is None:
        return "Environment: not recorded (results/environment.json is missing)."
    cpu, torch = environment.get("cpu") or {}, environment.get("torch") or {}
    load = cpu.get("load_average_1_5_15_min")
    load_text = f", load {' / '.join(f'{value:.2f}' for value in load)} (1/5/15 min)" if load else ""
    packages = environment.get("packages") or {}
    versions = ", ".join(f"{name} {packages[name]}" for name in ("numpy", "transformers") if packages.get(name))
    corpus = (environment.get("corpus_hashes") or {}).get("corpus")
    git = environment.get("git")
    commit = (f"commit {git['commit'][:12]}{' with uncommitted changes' if git.get('dirty') else ''}"
              if git else "no git commit recorded")
    platform = (environment.get("platform") or {}).get("platform") or "unknown OS"
    python = (environment.get("python") or {}).get("version", "?")
    torch_text = (f"torch {torch.get('version')} (CPU kernels {torch.get('cpu_capability')})" if torch
                  else "torch not recorded")
    generation = (f"family {cpu['family']} model {cpu.get('model_number')}, " if cpu.get("family") else "")
    return (f"Made on {cpu.get('model') or 'an unknown CPU'} ({generation}{cpu.get('logical_cores')} logical cores"
            f"{load_text}"
            f" when the tables were written), {platform}, Python {python}, {torch_text}"
            f"{', ' + versions if versions else ''}; {commit}"
            f"{f'; corpus hash {corpus[:12]}' if corpus else ''}; recorded {environment.get('created_utc', '?')}.")


def environment_details(environment: dict[str, Any]) -> str:
    """CPU, package and tool versions, numerics variables and corpus hashes as one table."""
    cpu = environment.get("cpu") or {}
    identity = ", ".join(f"{name} {cpu[key]}" for key, name in (("vendor", "vendor"), ("family", "family"),
                         ("model_number", "model"), ("stepping", "stepping"), ("mhz", "MHz")) if cpu.get(key))
    rows = [("CPU", cpu.get("model")), ("CPU identity", identity or None),
            ("logical cores", cpu.get("logical_cores")),
            ("OS", (environment.get("platform") or {}).get("platform")),
            ("Python", (environment.get("python") or {}).get("version")),
            ("torch CPU capability", (environment.get("torch") or {}).get("cpu_capability")),
            ("numpy BLAS", ((environment.get("numpy_blas") or {}).get("blas") or {}).get("name"))]
    rows += [(f"package {name}", version) for name, version in (environment.get("packages") or {}).items()]
    rows += [(f"tool {name}", version) for name, version in (environment.get("tools") or {}).items()]
    rows += [(f"${name}", value) for name, value in (environment.get("environment_variables") or {}).items()]
    hashes = environment.get("corpus_hashes") or {}
    rows += [("corpus hash (all domains)", hashes.get("corpus"))]
    rows += [(f"corpus hash {name}", value) for name, value in (hashes.get("domains") or {}).items()]
    frame = pd.DataFrame([(key, MISSING if value is None else str(value)) for key, value in rows],
                         columns=["what", "value"])
    return frame.to_markdown(index=False, disable_numparse=True)


# ---- the page ---------------------------------------------------------------------------------------

def main_part(results: Path, in_domain_set: str | None = None) -> str:
    """Table 1, interval half-widths, significance and findings counts and the machine, between the markers."""
    results = Path(results)
    table1 = _read_csv(results, "table1.csv")
    if table1 is None:
        raise ResultsPageError(f"{results / 'table1.csv'}: not found; run the workflow first")
    lines = [BEGIN, "", "**Table 1** (`results/table1.csv`): EER in %; fine-tuned rows are the mean over seeds.",
             "", markdown_table(table1), ""]
    intervals = _read_csv(results, "eer_intervals.csv")
    if intervals is not None:
        widths = half_widths(intervals, _read_csv(results, "eer_long.csv"))
        lines += ["**Median half-width of the per-run 95 % bootstrap intervals**, EER points "
                  f"(`results/eer_intervals.csv`, {resampled_unit(intervals)} resampled):", "",
                  markdown_table(widths.set_index("test set")[["median half-width"]].T.reset_index(drop=True)), ""]
    significance = _read_csv(results, "significance.csv")
    if significance is not None:
        count = int((significance["p_value"] < ALPHA).sum())
        lines += [f"**Paired tests** (`results/significance.csv`): {count} of {len(significance)} comparisons "
                  f"have p < {ALPHA}.", ""]
        verdicts = _findings(significance, in_domain_set)[1]["verdict"].value_counts(sort=False)
        if len(verdicts):
            lines += ["**The paper's findings**, one paired test each per model: " + ", ".join(
                f"{verdicts[name]} {name}" for name in sorted(verdicts.index)) + ".", ""]
    lines += [environment_line(_read_environment(results)), "", END]
    return "\n".join(lines)


def _read_environment(results: Path) -> dict[str, Any] | None:
    path = results / "environment.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResultsPageError(f"{path}: not valid JSON ({error})") from error


def _significance_section(significance: pd.DataFrame) -> list[str]:
    """Counts per comparison, GRPO against SFT in full, and every comparison with p < ALPHA."""
    lines = ["## Paired tests", "", f"`results/significance.csv`: per comparison, the tests and those with "
             f"p < {ALPHA} (a lower: a has the lower EER).", "", markdown_table(significance_summary(significance)), ""]
    key = significance[(significance["method_a"] == "grpo") & (significance["method_b"] == "sft")]
    if len(key):
        lines += ["GRPO against SFT, every model and test set (EER points):", "",
                  markdown_table(comparison_rows(key), column_decimals={"p": 3}), ""]
    significant = significance[significance["p_value"] < ALPHA]
    table = markdown_table(comparison_rows(significant), column_decimals={"p": 3}) if len(significant) else "None."
    return lines + [f"Every comparison with p < {ALPHA} (EER points):", "", table, ""]


def _drift_section(drift: pd.DataFrame) -> list[str]:
    pivot = drift.pivot_table(index=["model", "method"], columns="dataset", values="drift_mean", sort=False)
    estimators = ", ".join(dict.fromkeys(drift["estimator"].astype(str))) if "estimator" in drift else "?"
    return ["## Drift", "", f"`results/drift_summary.csv`: mean over seeds of the distance between the fake "
            f"embeddings of each test set and of the reference set (estimator: {estimators}).", "",
            markdown_table(pivot.reset_index(), decimals=3), ""]


def _findings(significance: pd.DataFrame, in_domain_set: str | None) -> tuple[str, pd.DataFrame]:
    """(the in-domain set used, the findings table); the default set is the first of significance.csv."""
    from deepfake_rl.findings import default_in_domain_set, findings_table

    in_domain_set = in_domain_set or default_in_domain_set(significance)
    return in_domain_set, findings_table(significance, in_domain_set)


def _findings_section(significance: pd.DataFrame, in_domain_set: str | None) -> list[str]:
    """The paper's conclusions, each read off its paired test (deepfake_rl.findings)."""
    in_domain_set, table = _findings(significance, in_domain_set)
    if table.empty:
        return []
    table = table.assign(interval=[f"[{low:.2f}, {high:.2f}]" for low, high in zip(table["low"], table["high"])])
    table = table[["model", "claim", "comparison", "column", "eer_a", "eer_b", "difference", "interval", "p_value",
                   "verdict"]].rename(columns={"eer_a": "EER a", "eer_b": "EER b", "difference": "a - b",
                                               "interval": "95 % interval", "p_value": "p"})
    return ["## The paper's findings", "", f"Each conclusion of the paper as one paired test (`deepfake_rl.findings`"
            f"; in-domain column `{in_domain_set}`, out-of-domain the average row), EER points; *reproduced* / "
            f"*opposite*: p < {ALPHA} with the paper's / the other sign, *not resolved*: p >= {ALPHA}; parity "
            "claims read *parity* or *differs*.", "", markdown_table(table, column_decimals={"p": 3}), ""]


def render_page(results: str | Path, in_domain_set: str | None = None) -> str:
    """The whole page: the main part, then every other table the results tree holds. `in_domain_set`: the
    test set of the in-domain findings (default: the first test set of significance.csv, the first
    in-domain column)."""
    results = Path(results)
    lines = ["# Results", "",
             "<!-- generated by `python -m deepfake_rl results-page` from results/; do not edit by hand -->", "",
             "Written from the `results/` of one run of the workflow; the columns carry the paper's test-set "
             "names. Regenerate with `snakemake docs/results.md` (or `python -m deepfake_rl results-page`).", "",
             "## Headline", "", main_part(results, in_domain_set), ""]
    preal = _read_csv(results, "table1_preal.csv")
    if preal is not None:
        lines += ["## Table 1 on P(real)", "", "`results/table1_preal.csv`: the same runs, EER of the "
                  "posterior P(real) instead of the real-class logit.", "", markdown_table(preal), ""]
    table2 = _read_csv(results, "table2.csv")
    if table2 is not None:
        lines += ["## Table 2 (TSRL's layout)", "", "`results/table2.csv`: AUC and ACC at posterior 0.5, EER as "
                  "a fraction; mean over seeds.", "", markdown_table(table2, decimals=3), ""]
    intervals = _read_csv(results, "eer_intervals.csv")
    if intervals is not None:
        lines += ["## Bootstrap intervals", "", "Half-widths of the per-run 95 % intervals (`results/eer_intervals"
                  f".csv`, {resampled_unit(intervals)} resampled within each class), EER points, and the trials "
                  "per test set.", "",
                  markdown_table(half_widths(intervals, _read_csv(results, "eer_long.csv"))), ""]
    significance = _read_csv(results, "significance.csv")
    if significance is not None:
        lines += _findings_section(significance, in_domain_set) + _significance_section(significance)
    drift = _read_csv(results, "drift_summary.csv")
    if drift is not None:
        lines += _drift_section(drift)
    environment = _read_environment(results)
    if environment is not None:
        lines += ["## Environment", "", "`results/environment.json`, written when the tables were:", "",
                  environment_details(environment), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def page_part(page: str, source: str = "page") -> str:
    """The text from BEGIN to END (inclusive) of a page or README."""
    start, stop = page.find(BEGIN), page.find(END)
    if start < 0 or stop < start:
        raise ResultsPageError(f"{source}: no '{BEGIN}' ... '{END}' block")
    return page[start:stop + len(END)]


def paste_into_readme(readme: str | Path, part: str) -> None:
    """Replace the README's block between the markers with `part` (atomically)."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    old = page_part(text, str(readme))
    with atomic_path(readme) as temporary:
        temporary.write_text(text.replace(old, part, 1), encoding="utf-8")


def write_results_page(results: str | Path = "results", out: str | Path = "docs/results.md",
                       readme: str | Path | None = None, in_domain_set: str | None = None) -> str:
    """Write the page (and, with `readme`, its main part into the README); returns the page."""
    page = render_page(results, in_domain_set)
    with atomic_path(out) as temporary:
        temporary.write_text(page, encoding="utf-8")
    if readme is not None:
        paste_into_readme(readme, page_part(page))
    return page
