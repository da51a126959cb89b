"""Torch views of the HDF5 waveform store: the Dataset and the padding collate function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from deepfake_rl.data.audio_io import SAMPLE_RATE
from deepfake_rl.data.store import read_store_manifest
from deepfake_rl.errors import require_file


class WaveformDataset(Dataset):
    """Segments of one store as (waveform tensor, label, index).

    The HDF5 file is opened lazily in each worker process (h5py handles must not cross a fork).
    Training crops are applied by deepfake_rl.train.loop.TrainingView, for waveforms and cached
    features alike.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = require_file(path, "waveform store", "run the segmentation stage")
        self.manifest = read_store_manifest(self.path)
        self.labels = self.manifest["label"].to_numpy()
        self.ids: list[str] = self.manifest["id"].tolist()
        self._handle: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.manifest)

    def lengths(self) -> np.ndarray:
        """Samples per segment (for batching by similar duration)."""
        return np.round(self.manifest["duration"].to_numpy() * SAMPLE_RATE).astype(np.int64)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        wave = np.asarray(self._handle["waveforms"][index], dtype=np.float32)
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
