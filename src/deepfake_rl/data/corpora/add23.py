"""ADD 2023 track 1.2, round 2 test set: `label.txt` (lines `<file> genuine|fake`) + `wav/`.

Mandarin speech; every item is a test item. AntiDeepfake's protocol script reads the same layout
(`Track1.2/testR2/{label.txt,wav/}`); the root here is that `testR2` folder.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from deepfake_rl.data.corpora.common import (CorpusError, Entry, LoadResult, build_manifest, check_root, map_value,
                                             protocol_lines, protocol_text, safe_relative)

PROTOCOL = "label.txt"
AUDIO_DIR = "wav"
LABELS = {"genuine": "real", "fake": "fake"}


def check_add23(root: str | Path) -> Path:
    """The root holds label.txt (readable as UTF-8) and wav/; no audio is read."""
    root = check_root(root, PROTOCOL, AUDIO_DIR)
    protocol_text(root / PROTOCOL)
    return root


def load_add23(root: str | Path, *, on_bad_file: str = "error") -> LoadResult:
    """Every line of label.txt as a test item (Proportion test, Language zh)."""
    root = check_add23(root)
    entries = []
    for source, fields in protocol_lines(root / PROTOCOL):
        if len(fields) != 2:
            raise CorpusError(f"{source}: expected '<file> genuine|fake', got {len(fields)} fields")
        name = safe_relative(fields[0], source)
        entries.append(Entry(id=f"ADD23-{name.as_posix()}", label=map_value(fields[1], LABELS, "label", source),
                             relative=PurePosixPath(AUDIO_DIR) / name,
                             proportion="test", source=source, language="zh"))
    return build_manifest(root, entries, on_bad_file, "ADD2023 track 1.2 round 2")
