"""Reading the per-step training logs (train_log.csv) back: per-epoch statistics of every run, for
figures that follow training rather than its result (e.g. TSRL Fig. 1's hard-sample fraction)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from deepfake_rl.run_paths import TRAIN_LOG, run_keys



def epoch_statistics(log_files: Sequence[str | Path], column: str) -> pd.DataFrame:
    """model, method, seed, epoch, value: the epoch-end rows' `column` of each run's log (methods log
    epoch statistics on the last step of each epoch). A log without the column contributes nothing."""
    frames = []
    for path in log_files:
        keys = run_keys(path, TRAIN_LOG)
        log = pd.read_csv(path)
        if column not in log.columns:
            continue
        rows = log.dropna(subset=[column])[["epoch", column]].rename(columns={column: "value"})
        frames.append(rows.assign(**keys))
    columns = ["model", "method", "seed", "epoch", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
