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

from collections.abc import Iterable, Mapping
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


def write_store(path: str | Path, segments: Iterable[Segment], attrs: Mapping[str, Any]) -> int:
    """Write segments atomically (temp file, then rename); return how many were written."""
    segments = list(segments)
    seen: set[str] = set()
    for segment in segments:   # scores and embeddings are keyed by id: a repeat would merge two clips
        if segment.id in seen:
            raise ValueError(f"{path}: duplicate segment id {segment.id!r} (source clip {segment.source_id!r})")
        seen.add(segment.id)
    string_type = h5py.string_dtype("utf-8")
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        waves = handle.create_dataset("waveforms", (len(segments),), dtype=h5py.vlen_dtype(np.float32))
        for index, segment in enumerate(segments):
            waves[index] = np.asarray(segment.waveform, dtype=np.float32)
        for field in STRING_FIELDS:
            handle.create_dataset(field, data=[getattr(s, field) for s in segments], dtype=string_type)
        for field, dtype in NUMERIC_FIELDS.items():
            values = [getattr(s, field) for s in segments]
            handle.create_dataset(field, data=np.asarray(values, dtype=dtype))
        handle.attrs["sample_rate"] = SAMPLE_RATE
        for key, value in attrs.items():
            handle.attrs[key] = "null" if value is None else value
    return len(segments)


def read_store_manifest(path: str | Path) -> pd.DataFrame:
    """The per-segment table of a store (no waveforms), in store order."""
    with h5py.File(path, "r") as handle:
        columns: dict[str, Any] = {f: handle[f].asstr()[()] for f in STRING_FIELDS}
        columns.update({f: handle[f][()] for f in NUMERIC_FIELDS})
    return pd.DataFrame(columns)
