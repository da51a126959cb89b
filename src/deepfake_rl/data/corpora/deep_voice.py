"""DEEP-VOICE (Kaggle release): `KAGGLE/AUDIO/{REAL,FAKE}/` long stereo recordings.

The fakes are voice conversions (RVC) of the real recordings. The paper tests on segments of
1.5-15 s; the cutting is done later by the segment stage (`random_seconds`), so this loader lists
the whole files. Everything is a test item.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from deepfake_rl.data.corpora.common import Entry, LoadResult, Skipped, audio_files, build_manifest, check_root

AUDIO_DIR = "KAGGLE/AUDIO"
FOLDERS = {"REAL": "real", "FAKE": "fake"}


def check_dv(root: str | Path) -> Path:
    """The root holds KAGGLE/AUDIO/REAL and /FAKE; no audio is read."""
    return check_root(root, *(f"{AUDIO_DIR}/{folder}" for folder in FOLDERS))


def load_dv(root: str | Path, *, on_bad_file: str = "error") -> LoadResult:
    """Every audio file under KAGGLE/AUDIO/REAL and /FAKE (Proportion test, Attack VC for fakes)."""
    root = check_dv(root)
    skipped: list[Skipped] = []
    entries = []
    for folder, label in FOLDERS.items():
        for path in audio_files(root / AUDIO_DIR / folder, skipped):
            entries.append(Entry(id=f"DV-{folder}-{path.name}", label=label,
                                 relative=PurePosixPath(path.relative_to(root).as_posix()), proportion="test",
                                 source=str(path), attack="VC" if label == "fake" else "-", language="en"))
    return build_manifest(root, entries, on_bad_file, "DEEP-VOICE", skipped)
