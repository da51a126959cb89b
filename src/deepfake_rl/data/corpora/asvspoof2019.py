"""ASVspoof 2019 LA: `ASVspoof2019_LA_cm_protocols/` + `ASVspoof2019_LA_{train,dev,eval}/flac/`.

Protocol lines are `SPEAKER FILE - ATTACK KEY`, e.g. `LA_0079 LA_T_1138215 - - bonafide` or
`LA_0079 LA_T_1004644 - A03 spoof`. The released train protocol is named `...cm.train.trn.txt`
(dev and eval are `.trl.txt`); both spellings are accepted for every part. The root is the `LA`
folder. The paper uses the dev part as validation set and drift reference.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from deepfake_rl.data.corpora.common import (CorpusError, Entry, LoadResult, build_manifest, check_folder,
                                             check_parts, check_root, map_value, protocol_lines, protocol_text,
                                             safe_relative)

PROTOCOL_DIR = "ASVspoof2019_LA_cm_protocols"
PARTS = {"train": "train", "dev": "valid", "eval": "test"}   # part -> Proportion
LABELS = {"bonafide": "real", "spoof": "fake"}


def _protocol(root: Path, part: str) -> Path:
    folder = root / PROTOCOL_DIR
    candidates = [folder / f"ASVspoof2019.LA.cm.{part}.{kind}.txt" for kind in ("trn", "trl")]
    found = [path for path in candidates if path.is_file()]
    if not found:
        raise CorpusError(f"{folder}: no protocol for part {part!r} (looked for {[p.name for p in candidates]})")
    return found[0]


def check_asv19la(root: str | Path, *, parts: tuple[str, ...] = ("train", "dev", "eval")) -> Path:
    """The LA root holds, for each part, its protocol (readable as UTF-8) and its flac/ folder; no audio is read."""
    check_parts(tuple(parts), PARTS)
    root = check_root(root, PROTOCOL_DIR)
    for part in parts:
        protocol_text(_protocol(root, part))
        check_folder(root / f"ASVspoof2019_LA_{part}" / "flac")
    return root


def load_asv19la(root: str | Path, *, on_bad_file: str = "error",
                 parts: tuple[str, ...] = ("train", "dev", "eval")) -> LoadResult:
    """The chosen parts (train -> train, dev -> valid, eval -> test), flac files, Language en."""
    root = check_asv19la(root, parts=parts)
    entries = []
    for part in parts:
        for source, fields in protocol_lines(_protocol(root, part)):
            if len(fields) != 5:
                raise CorpusError(f"{source}: expected 'SPEAKER FILE - ATTACK bonafide|spoof', "
                                  f"got {len(fields)} fields")
            speaker, name, _, attack, key = fields
            label = map_value(key, LABELS, "key", source)
            relative = PurePosixPath(f"ASVspoof2019_LA_{part}", "flac", f"{safe_relative(name, source)}.flac")
            entries.append(Entry(id=f"ASV19LA-{name}", label=label, relative=relative, proportion=PARTS[part],
                                 source=source, attack=attack, speaker=speaker, language="en"))
    return build_manifest(root, entries, on_bad_file, "ASVspoof2019 LA")
