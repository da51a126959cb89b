"""What every corpus loader shares: protocol entries, path safety, the bad-file policy, the manifest.

A loader only knows its corpus' layout: it turns the protocol file (or the folder tree) into
`Entry` objects, each naming where it came from (`file:line`). `build_manifest` then reads every
file's header and applies one policy to files that are missing or unreadable: `error` stops at the
first one, `skip` leaves it out and lists it with its reason. Malformed protocol rows, unknown
labels and paths that would leave the corpus root are always errors: they mean the protocol is not
what the loader was written for, and guessing would silently change a test set.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from deepfake_rl.data.audio_io import AudioError
from deepfake_rl.data.bad_files import Skipped, check_policy, skip_summary, skipped_file
from deepfake_rl.data.media import AUDIO_SUFFIXES, probe_audio
from deepfake_rl.data.manifest import COLUMNS, validate_manifest
from deepfake_rl.errors import DataError

_WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:|\\)")  # C:\x, C:x, \\server\x


class CorpusError(DataError):
    """The corpus is not laid out as expected; the message names the file (and line) at fault."""


@dataclass(frozen=True)
class Entry:
    """One protocol item before its header is read. `relative` is relative to the corpus root."""

    id: str
    label: str           # real | fake
    relative: PurePosixPath
    proportion: str      # train | valid | test
    source: str          # where the item came from, e.g. "label.txt:12", for messages
    attack: str = "-"
    speaker: str = "-"
    language: str = "-"


@dataclass
class LoadResult:
    """A corpus as a validated manifest (Paths relative to `root`) plus what was left out and why."""

    manifest: pd.DataFrame
    root: Path
    skipped: list[Skipped] = field(default_factory=list)


def check_parts(parts: tuple[str, ...], allowed: Iterable[str]) -> tuple[str, ...]:
    """A loader's `parts` option: a non-empty subset of the corpus' parts."""
    allowed = list(allowed)
    if not parts or not set(parts) <= set(allowed):
        raise ValueError(f"parts {list(parts)}: expected a non-empty subset of {allowed}")
    return parts


def check_root(root: str | Path, *required: str) -> Path:
    """The corpus root, which must be a folder holding each of `required` (files or folders)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus root is not a folder")
    missing = [name for name in required if not (root / name).exists()]
    if missing:
        raise CorpusError(f"{root}: missing {missing}; is this the right corpus root?")
    return root


def safe_relative(text: str, source: str) -> PurePosixPath:
    """A protocol path as a path that stays under the corpus root; absolute paths and '..' are refused."""
    cleaned = text.strip()
    path = PurePosixPath(cleaned)
    if not cleaned or path.is_absolute() or _WINDOWS_ABSOLUTE.match(cleaned) or ".." in path.parts:
        raise CorpusError(f"{source}: path {text!r} must be relative and stay under the corpus root")
    return path


def map_value(value: str, mapping: Mapping[str, str], what: str, source: str) -> str:
    """Look up a protocol value (case and surrounding space ignored); unknown values name the line."""
    key = value.strip().lower()
    if key not in mapping:
        raise CorpusError(f"{source}: unknown {what} {value!r}; expected one of {sorted(mapping)}")
    return mapping[key]


def protocol_text(path: Path) -> str:
    """A protocol file's text, read as UTF-8 (a BOM is fine). Another encoding (a CSV saved by Excel is
    often cp1252) is an error naming the file and line, never guessed: a wrong guess would silently
    change file names, and with them which files are found."""
    if not path.is_file():
        raise CorpusError(f"{path}: protocol file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CorpusError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); protocol files are read as UTF-8. "
            f"Convert it once, e.g. for a CSV saved by Excel on Windows: iconv -f cp1252 -t utf-8 '{path}' > "
            f"converted && mv converted '{path}'") from None


def protocol_lines(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Whitespace-separated fields of each non-blank line, with 'file:line' for messages."""
    for number, line in enumerate(io.StringIO(protocol_text(path), newline=None), start=1):
        if line.strip():
            yield f"{path}:{number}", line.split()


def csv_rows(path: Path, required: Iterable[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """Rows of a CSV protocol with a header, as dicts, with 'file:line' for messages.

    Every row must have exactly as many fields as the header (quoted commas are fine)."""
    reader = csv.reader(io.StringIO(protocol_text(path), newline=""))
    header = [name.strip() for name in next(reader, [])]
    missing = [name for name in required if name not in header]
    if missing:
        raise CorpusError(f"{path}:1: missing columns {missing}; header is {header}")
    for fields in reader:
        source = f"{path}:{reader.line_num}"
        if not any(value.strip() for value in fields):
            continue
        if len(fields) != len(header):
            raise CorpusError(f"{source}: {len(fields)} fields, the header has {len(header)}")
        yield source, dict(zip(header, fields))


def check_folder(folder: Path) -> Path:
    """A folder the corpus layout requires (FoR's `testing/real`, DEEP-VOICE's `REAL`...)."""
    if not folder.is_dir():
        raise CorpusError(f"{folder}: expected folder is missing")
    return folder


def audio_files(folder: Path, skipped: list[Skipped]) -> list[Path]:
    """Audio files directly in `folder`, sorted; anything else is listed in `skipped`, not dropped silently.
    macOS leaves `._<name>` resource-fork files beside each file copied from its disks: they carry the
    audio suffix but no audio, so they are listed as what they are instead of failing as unreadable audio."""
    files = []
    for path in sorted(check_folder(folder).iterdir()):
        if path.is_dir():
            skipped.append(Skipped(str(path), "subfolder (ignored)"))
        elif path.name.startswith("._"):
            skipped.append(Skipped(str(path), "macOS resource-fork file (ignored)"))
        elif path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            files.append(path)
        else:
            skipped.append(Skipped(str(path), "not an audio file (ignored)"))
    return files


def build_manifest(root: Path, entries: Iterable[Entry], on_bad_file: str, corpus: str,
                   skipped: list[Skipped] | None = None) -> LoadResult:
    """Read each entry's header and build the validated manifest, applying the bad-file policy."""
    policy = check_policy(on_bad_file)
    skipped = list(skipped or [])
    rows, seen = [], {}
    for entry in entries:
        if entry.id in seen:
            raise CorpusError(f"{entry.source}: duplicate entry {entry.id!r} (first at {seen[entry.id]})")
        seen[entry.id] = entry.source
        path = root / entry.relative
        try:
            info = probe_audio(path)
            if not info.duration > 0:
                raise AudioError(f"{path}: empty audio or no duration in the header ({info.duration:g} s)")
        except AudioError as error:
            # Protocol entries name their line; folder entries are their own source (path only once).
            where = "" if entry.source == str(path) else entry.source
            if policy == "error":
                raise CorpusError(f"{where}: {error}" if where else str(error)) from None
            skipped.append(skipped_file(path, error, where))
            continue
        rows.append({"ID": entry.id, "Label": entry.label, "Duration": info.duration,
                     "SampleRate": info.sample_rate, "Path": entry.relative.as_posix(), "Attack": entry.attack,
                     "Speaker": entry.speaker, "Proportion": entry.proportion, "AudioChannel": info.channels,
                     "AudioEncoding": info.encoding, "AudioBitSample": info.bits_per_sample,
                     "Language": entry.language})
    if not rows:
        raise CorpusError(f"{root}: {corpus} has no usable audio{skip_summary(skipped)}")
    manifest = pd.DataFrame(rows, columns=list(COLUMNS))
    return LoadResult(manifest=validate_manifest(manifest, f"{corpus} manifest of {root}"), root=root, skipped=skipped)
