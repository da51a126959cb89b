"""Fake-or-Real (FoR): four versions, each `{training,validation,testing}/{real,fake}/` audio files.

The release unpacks to `for-original/`, `for-norm/`, `for-2seconds/` (archive for-2sec) and
`for-rerecorded/` (archive for-rerec); both the folder and the archive name are accepted. There is
no protocol file: the folder gives the label and the part. The root is the folder holding the
version folders. The paper's FoR column is a test set, so only `testing` is listed by default.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from deepfake_rl.data.corpora.common import (CorpusError, Entry, LoadResult, Skipped, audio_files, build_manifest,
                                             check_folder, check_parts, check_root)

VERSIONS: dict[str, tuple[str, ...]] = {   # version -> folder names it may have on disk
    "for-original": ("for-original",),
    "for-norm": ("for-norm",),
    "for-2sec": ("for-2seconds", "for-2sec"),
    "for-rerec": ("for-rerecorded", "for-rerec"),
}
PARTS = {"training": "train", "validation": "valid", "testing": "test"}
LABELS = ("real", "fake")


def _version_folder(root: Path, version: str) -> Path:
    if version not in VERSIONS:
        raise ValueError(f"FoR version {version!r}: expected one of {list(VERSIONS)}")
    for name in VERSIONS[version]:
        if (root / name).is_dir():
            return root / name
    raise CorpusError(f"{root}: no folder {' or '.join(VERSIONS[version])} for FoR version {version!r}")


def check_for(root: str | Path, *, version: str = "for-norm", parts: tuple[str, ...] = ("testing",)) -> Path:
    """The root holds the version's folder with real/ and fake/ in each chosen part; no audio is read."""
    check_parts(tuple(parts), PARTS)
    folder = _version_folder(check_root(root), version)
    for part in parts:
        for label in LABELS:
            check_folder(folder / part / label)
    return Path(root)


def load_for(root: str | Path, *, on_bad_file: str = "error", version: str = "for-norm",
             parts: tuple[str, ...] = ("testing",)) -> LoadResult:
    """The files of one FoR version and the chosen parts (testing -> test, ...), Language en."""
    root = check_for(root, version=version, parts=parts)
    folder = _version_folder(root, version)
    skipped: list[Skipped] = []
    entries = []
    for part in parts:
        for label in LABELS:
            for path in audio_files(folder / part / label, skipped):
                relative = PurePosixPath(path.relative_to(root).as_posix())
                entries.append(Entry(id=f"FoR-{version}-{part}-{label}-{path.name}", label=label,
                                     relative=relative, proportion=PARTS[part], source=str(path), language="en"))
    return build_manifest(root, entries, on_bad_file, f"Fake-or-Real {version}", skipped)
