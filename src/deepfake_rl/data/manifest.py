"""The common manifest: AntiDeepfake protocol columns, one row per audio file.

Every corpus, embedded or real, is turned into this table before segmentation, so that later
stages never see corpus-specific layouts. Paths are relative to the manifest's folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepfake_rl.errors import DataError
from deepfake_rl.io_utils import atomic_path

COLUMNS: tuple[str, ...] = (
    "ID", "Label", "Duration", "SampleRate", "Path", "Attack", "Speaker", "Proportion",
    "AudioChannel", "AudioEncoding", "AudioBitSample", "Language",
)
LABELS: tuple[str, str] = ("fake", "real")   # index 0 fake, 1 real: the detector's convention
PROPORTIONS: tuple[str, ...] = ("train", "valid", "test")
MANIFEST_NAME = "manifest.csv"


class ManifestError(DataError):
    """The manifest is malformed; the message names the file, the row and the problem."""


def label_index(label: str) -> int:
    """0 for fake, 1 for real (the detector's output index)."""
    return LABELS.index(label)


def validate_manifest(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check columns, labels, proportions, IDs and durations; raise ManifestError naming the CSV line."""
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ManifestError(f"{source}: missing columns {missing}")
    if frame.empty:
        raise ManifestError(f"{source}: manifest has no rows")
    line = lambda index: index + 2  # noqa: E731  header is line 1
    for column, allowed in (("Label", LABELS), ("Proportion", PROPORTIONS)):
        bad = ~frame[column].isin(allowed)
        if bad.any():
            index = int(bad.to_numpy().argmax())
            raise ManifestError(
                f"{source}: line {line(index)}: {column} {frame[column].iloc[index]!r} is not one of {list(allowed)}"
            )
    duplicated = frame["ID"].duplicated()
    if duplicated.any():
        index = int(duplicated.to_numpy().argmax())
        raise ManifestError(f"{source}: line {line(index)}: duplicate ID {frame['ID'].iloc[index]!r}")
    durations = pd.to_numeric(frame["Duration"], errors="coerce")
    bad = ~(durations > 0)
    if bad.any():
        index = int(bad.to_numpy().argmax())
        raise ManifestError(f"{source}: line {line(index)}: Duration {frame['Duration'].iloc[index]!r} is not positive")
    for index, relative in enumerate(frame["Path"]):
        if Path(str(relative)).is_absolute() or ".." in Path(str(relative)).parts:
            raise ManifestError(f"{source}: line {line(index)}: Path {relative!r} must stay under the corpus root")
    return frame


def write_manifest(frame: pd.DataFrame, path: str | Path) -> None:
    """Validate and write atomically, columns in protocol order."""
    validate_manifest(frame, str(path))
    with atomic_path(path) as temporary:
        frame.loc[:, list(COLUMNS)].to_csv(temporary, index=False)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest CSV."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    try:
        frame = pd.read_csv(path, dtype={"ID": str, "Label": str, "Path": str, "Proportion": str,
                                         "Attack": str, "Speaker": str, "Language": str},
                            keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: malformed CSV ({error})") from error
    return validate_manifest(frame, str(path))
