"""In-the-Wild (release_in_the_wild/): `meta.csv` with columns file,speaker,label + the wav files.

Labels are `bona-fide` (with a hyphen) and `spoof`; speakers are public figures, whose names may
contain commas inside quotes. Everything is a test item.
"""

from __future__ import annotations

from pathlib import Path

from deepfake_rl.data.corpora.common import (Entry, LoadResult, build_manifest, check_root, csv_rows, map_value,
                                             protocol_text, safe_relative)

PROTOCOL = "meta.csv"
LABELS = {"bona-fide": "real", "spoof": "fake"}


def check_itw(root: str | Path) -> Path:
    """The root holds meta.csv (readable as UTF-8); no audio is read."""
    root = check_root(root, PROTOCOL)
    protocol_text(root / PROTOCOL)
    return root


def load_itw(root: str | Path, *, on_bad_file: str = "error") -> LoadResult:
    """Every row of meta.csv as a test item (Proportion test, Language en)."""
    root = check_itw(root)
    entries = []
    for source, row in csv_rows(root / PROTOCOL, ("file", "speaker", "label")):
        name = safe_relative(row["file"], source)
        entries.append(Entry(id=f"ItW-{name.as_posix()}", label=map_value(row["label"], LABELS, "label", source),
                             relative=name, proportion="test", source=source,
                             speaker=row["speaker"].strip() or "-", language="en"))
    return build_manifest(root, entries, on_bad_file, "In-the-Wild")
