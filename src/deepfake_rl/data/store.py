"""The HDF5 waveform store: one file per dataset x segmentation (read back by
deepfake_rl.data.dataset.WaveformDataset). Kept free of torch so the segmentation jobs start fast.

Layout (all datasets of length N, one entry per segment):
  waveforms  vlen float32, 16 kHz mono
  id, source_id, attack, speaker, language   vlen UTF-8 strings
  label      int8, 0 fake / 1 real (the detector's index convention)
  start, duration   float64 seconds within the source clip
File attributes: sample_rate, and the segmentation parameters that produced it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from deepfake_rl.data.audio_io import SAMPLE_RATE
from deepfake_rl.io_utils import atomic_path

STRING_FIELDS: tuple[str, ...] = ("id", "source_id", "attack", "speaker", "language")
NUMERIC_FIELDS: dict[str, str] = {"label": "int8", "start": "float64", "duration": "float64"}


@dataclass(frozen=True)
class Segment:
    """One stored segment: its waveform and the manifest fields that travel with it."""

    waveform: np.ndarray
    id: str
    source_id: str
    label: int
    attack: str
    speaker: str
    language: str
    start: float

    @property
    def duration(self) -> float:
        return len(self.waveform) / SAMPLE_RATE


class StoreWriter:
    """Appends segments to an open store: each waveform goes to the file as it arrives and only the
    per-segment metadata stays in memory, so a segmentation job needs the memory of one clip, not of
    the whole dataset (a real In-the-Wild store, 38 h of audio, is 38 x 230 MB of float32)."""

    def __init__(self, handle: h5py.File, path: Path) -> None:
        self.path, self._handle, self.count = path, handle, 0
        self._waves = handle.create_dataset("waveforms", (0,), maxshape=(None,), chunks=(256,),
                                            dtype=h5py.vlen_dtype(np.float32))
        self._metadata: dict[str, list[Any]] = {field: [] for field in (*STRING_FIELDS, *NUMERIC_FIELDS)}
        self._seen: set[str] = set()

    def append(self, segment: Segment) -> None:
        # scores and embeddings are keyed by id: a repeat would merge two clips
        if segment.id in self._seen:
            raise ValueError(f"{self.path}: duplicate segment id {segment.id!r} (source clip {segment.source_id!r})")
        self._seen.add(segment.id)
        self._waves.resize((self.count + 1,))
        self._waves[self.count] = np.asarray(segment.waveform, dtype=np.float32)
        for field, values in self._metadata.items():
            values.append(getattr(segment, field))
        self.count += 1

    def finish(self, attrs: Mapping[str, Any]) -> None:
        """The metadata columns and the file attributes (call once, after the last segment)."""
        for field in STRING_FIELDS:
            self._handle.create_dataset(field, data=self._metadata[field], dtype=h5py.string_dtype("utf-8"))
        for field, dtype in NUMERIC_FIELDS.items():
            self._handle.create_dataset(field, data=np.asarray(self._metadata[field], dtype=dtype))
        self._handle.attrs["sample_rate"] = SAMPLE_RATE
        for key, value in attrs.items():
            self._handle.attrs[key] = "null" if value is None else value


@contextlib.contextmanager
def open_store(path: str | Path) -> Iterator[StoreWriter]:
    """A StoreWriter on a temporary file that becomes `path` only if the block ends without an error:
    a killed or failing job leaves no store behind."""
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        yield StoreWriter(handle, Path(path))


def write_store(path: str | Path, segments: Iterable[Segment], attrs: Mapping[str, Any]) -> int:
    """Write segments atomically (temp file, then rename); return how many were written."""
    with open_store(path) as writer:
        for segment in segments:
            writer.append(segment)
        writer.finish(attrs)
    return writer.count


def read_store_manifest(path: str | Path) -> pd.DataFrame:
    """The per-segment table of a store (no waveforms), in store order."""
    with h5py.File(path, "r") as handle:
        columns: dict[str, Any] = {f: handle[f].asstr()[()] for f in STRING_FIELDS}
        columns.update({f: handle[f][()] for f in NUMERIC_FIELDS})
    return pd.DataFrame(columns)
