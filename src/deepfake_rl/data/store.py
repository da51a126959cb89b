"""The HDF5 waveform store: one file per dataset x segmentation, read back by a torch Dataset.

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
import torch
from torch.utils.data import Dataset

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


def read_waveform(path: str | Path, index: int) -> np.ndarray:
    """One waveform by position (for inspection and tests)."""
    with h5py.File(path, "r") as handle:
        return np.asarray(handle["waveforms"][index], dtype=np.float32)


class WaveformDataset(Dataset):
    """Segments of one store as (waveform tensor, label, index).

    The HDF5 file is opened lazily in each worker process (h5py handles must not cross a fork).
    With crop_samples set, longer waveforms are cropped: at a seeded random offset for training,
    from the start otherwise.
    """

    def __init__(self, path: str | Path, crop_samples: int | None = None, random_crop: bool = False,
                 seed: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: waveform store not found (run the segmentation stage)")
        self.manifest = read_store_manifest(self.path)
        self.labels = self.manifest["label"].to_numpy()
        self.ids: list[str] = self.manifest["id"].tolist()
        self.crop_samples = crop_samples
        self.random_crop = random_crop
        self.rng = np.random.default_rng(seed)
        self._handle: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.manifest)

    def lengths(self) -> np.ndarray:
        """Samples per segment after cropping (for batching by similar duration)."""
        samples = np.round(self.manifest["duration"].to_numpy() * SAMPLE_RATE).astype(np.int64)
        return samples if self.crop_samples is None else np.minimum(samples, self.crop_samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        wave = np.asarray(self._handle["waveforms"][index], dtype=np.float32)
        if self.crop_samples is not None and len(wave) > self.crop_samples:
            offset = int(self.rng.integers(0, len(wave) - self.crop_samples + 1)) if self.random_crop else 0
            wave = wave[offset:offset + self.crop_samples]
        return torch.from_numpy(wave), int(self.labels[index]), index

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None
        return state


def collate_padded(batch: list[tuple[torch.Tensor, int, int]]) -> dict[str, torch.Tensor]:
    """Zero-pad along the first (time) axis to the longest item; works for waveforms [T] and for
    cached frame features [F, C]. `lengths` lets the model mask the padding."""
    items, labels, indices = zip(*batch)
    lengths = torch.tensor([len(item) for item in items], dtype=torch.long)
    padded = items[0].new_zeros((len(items), int(lengths.max()), *items[0].shape[1:]))
    for row, item in enumerate(items):
        padded[row, : len(item)] = item
    return {"inputs": padded, "lengths": lengths, "label": torch.tensor(labels, dtype=torch.long),
            "index": torch.tensor(indices, dtype=torch.long)}
