"""Deepfake-Eval-2024 (audio part): `audio-metadata-publish.csv` + `audio-data/`, both at the top of the
released folder (the root to configure is that folder).

The released metadata has the columns Filename, Date, Ground Truth (Real/Fake), Public Comments and
Finetuning Set (Train/Test); the audio is in-the-wild social-media material in mixed containers
(mp3, m4a, mp4, wav, ...), read through `media.py`. Segmentation (4/10/13/30/50 s for the test set,
15 s for training) happens later, in the segment stage; this loader lists whole files.

Rows whose Ground Truth is not Real/Fake or whose Finetuning Set is not Train/Test (e.g. `unknown`) are
left out by default, as AntiDeepfake's DFE24 preprocessing does, and each is listed in the import's
skip report with its reason; `other_rows="strict"` makes the first of them an error instead.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from deepfake_rl.data.corpora.common import (Entry, LoadResult, Skipped, build_manifest, check_root, csv_rows,
                                             map_value, protocol_text, safe_relative)

METADATA = "audio-metadata-publish.csv"
AUDIO_DIR = "audio-data"
COLUMNS = ("Filename", "Ground Truth", "Finetuning Set")
LABELS = {"real": "real", "fake": "fake"}
PROPORTIONS = {"train": "train", "test": "test"}
OTHER_ROWS = ("skip", "strict")


def check_dfe24(root: str | Path, *, metadata: str = METADATA) -> Path:
    """The root holds the metadata CSV (readable as UTF-8) and audio-data/; no audio is read."""
    root = check_root(root, metadata, AUDIO_DIR)
    protocol_text(root / metadata)
    return root


def _other_row_reason(row: dict[str, str]) -> str | None:
    """Why AntiDeepfake's preprocessing would leave this row out, or None for a Real/Fake, Train/Test row."""
    problems = [f"{column} {row[column]!r} is not {' or '.join(value.title() for value in mapping)}"
                for column, mapping in (("Ground Truth", LABELS), ("Finetuning Set", PROPORTIONS))
                if row[column].strip().lower() not in mapping]
    return "; ".join(problems) or None


def load_dfe24(root: str | Path, *, on_bad_file: str = "error", metadata: str = METADATA,
               other_rows: str = "skip") -> LoadResult:
    """All Train and Test files of Deepfake-Eval-2024 (Proportion train/test; no valid part)."""
    if other_rows not in OTHER_ROWS:
        raise ValueError(f"other_rows {other_rows!r}: expected one of {list(OTHER_ROWS)}")
    root = check_dfe24(root, metadata=metadata)
    entries, skipped = [], []
    for source, row in csv_rows(root / metadata, COLUMNS):
        reason = _other_row_reason(row) if other_rows == "skip" else None
        if reason is not None:
            skipped.append(Skipped(f"{source}: {row['Filename'].strip()}",
                                   f"{reason} (row left out; options.other_rows: strict stops here instead)"))
            continue
        name = safe_relative(row["Filename"], source)
        entries.append(Entry(
            id=f"DFE24-{name.as_posix()}", label=map_value(row["Ground Truth"], LABELS, "Ground Truth", source),
            relative=PurePosixPath(AUDIO_DIR) / name,
            proportion=map_value(row["Finetuning Set"], PROPORTIONS, "Finetuning Set", source), source=source))
    return build_manifest(root, entries, on_bad_file, "Deepfake-Eval-2024", skipped)
