"""Figures: the Table 1 heat-map (grey shading, darker = higher EER, as the paper's table) and the drift
profiles of Fig. 2. Drawn on matplotlib's object API with the Agg canvas (no pyplot state, no display), and
written atomically like every other output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deepfake_rl.io_utils import atomic_path

TABLE1_ID_COLUMNS = ("row", "model", "pretrain", "posttrain", "finetune")
# Fig. 2 styles: post-trained without fine-tuning grey bold, SFT black dotted, everything else coloured
PROFILE_STYLES = {"none": {"color": "0.55", "linewidth": 3.0, "linestyle": "-"},
                  "sft": {"color": "black", "linewidth": 1.5, "linestyle": ":"}}
COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:cyan")


def method_styles(methods: Sequence[str]) -> dict[str, dict[str, object]]:
    """Line style per method: the fixed Fig. 2 styles, then colours in order for the others."""
    colours = iter(COLOURS)
    return {method: PROFILE_STYLES.get(method) or {"color": next(colours), "linewidth": 1.5, "linestyle": "-"}
            for method in methods}


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=150)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | Path) -> None:
    """Write a figure as PNG atomically (the temporary name has no .png suffix, so the format is explicit)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", bbox_inches="tight")


def table1_heatmap(table: pd.DataFrame | str | Path, path: str | Path, title: str | None = None) -> None:
    """Heat-map of a Table 1 CSV (or frame): one row per table row, one column per EER column (test sets and
    averages, in the CSV's order), values printed in the cells, NaN cells left white and marked."""
    table = pd.read_csv(table) if isinstance(table, (str, Path)) else table
    columns = [c for c in table.columns if c not in TABLE1_ID_COLUMNS]
    values = table[columns].to_numpy(dtype=np.float64)
    labels = [f"{row.row}  {row.model}  {row.finetune}" + ("" if row.posttrain == "yes" else "  (no post-train)")
              for row in table.itertuples()]
    finite = values[np.isfinite(values)]
    high = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    figure = _new_figure(1.0 + 0.75 * len(columns), 1.2 + 0.32 * len(table))
    axes = figure.add_subplot()
    top = high / 0.7        # the highest EER is drawn at 70% of the grey scale, so its text stays legible
    axes.imshow(np.ma.masked_invalid(values), cmap="Greys", vmin=0.0, vmax=top, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        text = "n/a" if not np.isfinite(value) else f"{value:.2f}"
        axes.text(j, i, text, ha="center", va="center", fontsize=7,
                  color="white" if np.isfinite(value) and value / top > 0.6 else "black")
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(table)), labels, fontsize=8)
    axes.tick_params(length=0)
    if title:
        axes.set_title(title, fontsize=9)
    save_png(figure, path)


def drift_profiles(summary: pd.DataFrame, model: str, datasets: Sequence[str], dataset_labels: Sequence[str],
                   methods: Sequence[str], method_labels: Sequence[str], path: str | Path,
                   title: str | None = None) -> None:
    """Fig. 2: mean drift over seeds (error bars: std over seeds) across the test sets, one line per method.

    Fig. 2(a) is methods [none, sft, grpo] of the largest model; Fig. 2(b) the beta ablation, e.g.
    [grpo_beta0, grpo, grpo_beta1]. `summary` is drift.drift_summary's frame; missing points are gaps. The
    title and the y axis name the estimator, so a sliced figure never passes for W1."""
    if len(datasets) != len(dataset_labels) or len(methods) != len(method_labels):
        raise ValueError("datasets/dataset_labels and methods/method_labels must have equal lengths")
    rows = summary[summary["model"] == model].set_index(["method", "dataset"])
    figure = _new_figure(1.2 + 0.6 * len(datasets), 3.2)
    axes = figure.add_subplot()
    styles = method_styles(methods)
    x = np.arange(len(datasets))
    for method, label in zip(methods, method_labels):
        found = [(method, d) in rows.index for d in datasets]
        mean = np.array([rows.loc[(method, d), "drift_mean"] if f else np.nan for d, f in zip(datasets, found)])
        std = np.array([rows.loc[(method, d), "drift_std"] if f else np.nan for d, f in zip(datasets, found)])
        axes.errorbar(x, mean, yerr=np.nan_to_num(std), marker="o", markersize=3, capsize=2, label=label,
                      **styles[method])
    axes.set_xticks(x, list(dataset_labels), rotation=30, ha="right", fontsize=8)
    # the estimator's label ("W1", or "sliced (not W1)" when asked for) is always on the figure
    estimators = ", ".join(sorted(summary.loc[summary["model"] == model, "estimator"].unique())) or "no runs"
    axes.set_ylabel(f"drift ({estimators})", fontsize=8)
    axes.set_title(f"{title or model} [{estimators}]", fontsize=9)
    axes.legend(fontsize=7, frameon=False)
    axes.grid(alpha=0.3)
    save_png(figure, path)


def hard_sample_curves(epochs: pd.DataFrame, methods: dict[str, str], model_labels: dict[str, str],
                       path: str | Path) -> None:
    """TSRL Fig. 1: per epoch, the fraction of training samples whose EMA loss is above the hard
    threshold, one panel per model, one line per method (mean over seeds, band = min..max).

    `epochs` is train.logs.epoch_statistics' frame (model, method, seed, epoch, value)."""
    models = list(dict.fromkeys(epochs["model"])) or ["(no runs)"]
    figure = _new_figure(0.4 + 3.0 * len(models), 2.8)
    styles = method_styles(list(methods))
    for index, model in enumerate(models, 1):
        axes = figure.add_subplot(1, len(models), index)
        for method, label in methods.items():
            runs = epochs[(epochs["model"] == model) & (epochs["method"] == method)]
            if runs.empty:
                continue
            per_epoch = runs.groupby("epoch")["value"].agg(["mean", "min", "max"])
            style = styles[method]
            axes.plot(per_epoch.index + 1, per_epoch["mean"], label=label, **style)
            axes.fill_between(per_epoch.index + 1, per_epoch["min"], per_epoch["max"], color=style["color"], alpha=0.15)
        axes.set_title(model_labels.get(model, model), fontsize=9)
        axes.set_xlabel("epoch", fontsize=8)
        axes.set_ylim(-0.02, 1.02)
        axes.grid(alpha=0.3)
        if index == 1:
            axes.set_ylabel("hard samples (EMA loss > 0.7)", fontsize=8)
            axes.legend(fontsize=7, frameon=False)
    save_png(figure, path)
