"""Deepfake-Eval-2024 (audio part): `audio-metadata-publish.csv` + `audio-data/`.

The released metadata has the columns Filename, Date, Ground Truth (Real/Fake), Public Comments and
Finetuning Set (Train/Test); the audio is in-the-wild social-media material in mixed containers
(mp3, m4a, mp4, wav, ...), read through `media.py`. Segmentation (4/10/13/30/50 s for the test set,
15 s for training) happens later, in the segment stage; this loader lists whole files.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from deepfake_rl.data.corpora.common import (Entry, LoadResult, build_manifest, check_root, csv_rows, map_value,
                                             safe_relative)

METADATA = "audio-metadata-publish.csv"
AUDIO_DIR = "audio-data"
LABELS = {"real": "real", "fake": "fake"}
PROPORTIONS = {"train": "train", "test": "test"}


def load_dfe24(root: str | Path, *, on_bad_file: str = "error", metadata: str = METADATA) -> LoadResult:
    """All Train and Test files of Deepfake-Eval-2024 (Proportion train/test; no valid part)."""
    root = check_root(root, metadata, AUDIO_DIR)
    entries = []
    for source, row in csv_rows(root / metadata, ("Filename", "Ground Truth", "Finetuning Set")):
        name = safe_relative(row["Filename"], source)
        entries.append(Entry(
            id=f"DFE24-{name.as_posix()}", label=map_value(row["Ground Truth"], LABELS, "Ground Truth", source),
            relative=PurePosixPath(AUDIO_DIR) / name,
            proportion=map_value(row["Finetuning Set"], PROPORTIONS, "Finetuning Set", source), source=source))
    return build_manifest(root, entries, on_bad_file, "Deepfake-Eval-2024")
