"""Where a run's files live (results/runs/<model>/<method>/seed<N>/...), read back from their paths:
one parser for every stage that gathers run files (tables, uncertainty, drift, training-log figures)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_RUN = r"(?P<model>[^/]+)/(?P<method>[^/]+)/seed(?P<seed>\d+)/"
# file kind -> (pattern of the part after the run folder, the form an error message shows)
SCORES = (re.compile(_RUN + r"scores/(?P<dataset>[^/]+)\.csv$"), "scores/<dataset>.csv")
EMBEDDINGS = (re.compile(_RUN + r"embeddings/(?P<dataset>[^/]+)\.h5$"), "embeddings/<dataset>.h5")
TRAIN_LOG = (re.compile(_RUN + r"train_log\.csv$"), "train_log.csv")


def run_keys(path: str | Path, kind: tuple[re.Pattern[str], str]) -> dict[str, Any]:
    """model, method, seed (int) and, for per-dataset files, dataset, from a run file's path."""
    pattern, form = kind
    match = pattern.search(Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path}: not a run file of the form <model>/<method>/seed<N>/{form}")
    return {**match.groupdict(), "seed": int(match["seed"])}
