"""The optional frozen-prefix feature cache: run a detector's frozen part once per dataset.

With a frozen conv encoder (and possibly frozen transformer layers) every training epoch would
recompute the same features; caching them turns fine-tuning into training the suffix only.
The cache is valid only for the exact frozen weights and freeze mode that produced it, so both
are recorded (model key, freeze mode, source checkpoint) and `FeatureDataset.check_compatible`
refuses a mismatch. Training on the cache gives the same logits as training on waveforms because
the frozen part runs deterministically (eval mode) in both paths (see `Detector`).

Layout (N segments, same order as the waveform store):
  features  vlen float32, the [F, C] frames of each segment flattened row-major
  frames    int64 F per segment;  label int8 (0 fake / 1 real);  id vlen UTF-8
File attributes: channels (C), model_key, freeze, source_checkpoint, source_store, format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from deepfake_rl.data.dataset import WaveformDataset, collate_padded
from deepfake_rl.data.store import read_store_manifest
from deepfake_rl.errors import require_file
from deepfake_rl.io_utils import atomic_path
from deepfake_rl.scoring import length_batches
from deepfake_rl.models.detector import Detector, scoring_mode

FORMAT = "deepfake_rl.feature_cache"


def _prefix_features(detector: Detector, dataset: WaveformDataset, indices: np.ndarray
                     ) -> list[np.ndarray]:
    """The frozen-prefix output of each segment in `indices`, unpadded, as [F, C] arrays."""
    batch = collate_padded([dataset[int(index)] for index in indices])
    device = next(detector.parameters()).device
    hidden, frames = detector.prefix(batch["inputs"].to(device), batch["lengths"].to(device))
    hidden, frames = hidden.float().cpu().numpy(), frames.cpu().numpy()
    return [hidden[row, : frames[row]] for row in range(len(indices))]


def write_feature_cache(detector: Detector, store_path: str | Path, out_path: str | Path, *, batch_size: int,
                        progress: bool = True, source_checkpoint: str | None = None,
                        max_batch_samples: int | None = None) -> int:
    """Run `detector.prefix` over a waveform store and write the features (atomically).

    `source_checkpoint` defaults to where the detector's weights came from. Returns the number of
    segments written. `max_batch_samples` bounds each batch's padded size (`scoring.length_batches`).
    Freeze mode 'none' has no frozen part and is refused."""
    if detector.freeze_mode.kind == "none":
        raise ValueError("freeze 'none' has no frozen prefix to cache; train on waveforms instead")
    dataset = WaveformDataset(store_path)
    ids = read_store_manifest(store_path)["id"].tolist()
    channels = 0
    with atomic_path(out_path) as temporary, h5py.File(temporary, "w") as handle, scoring_mode(detector):
        features = handle.create_dataset("features", (len(dataset),), dtype=h5py.vlen_dtype(np.float32))
        frames = handle.create_dataset("frames", (len(dataset),), dtype="int64")
        batches = length_batches(dataset.lengths(), batch_size, max_batch_samples)
        for indices in tqdm(batches, desc=f"cache {Path(store_path).name}", disable=not progress):
            for index, item in zip(indices, _prefix_features(detector, dataset, indices)):
                features[index], frames[index], channels = item.ravel(), item.shape[0], item.shape[1]
        handle.create_dataset("label", data=dataset.labels.astype(np.int8))
        handle.create_dataset("id", data=ids, dtype=h5py.string_dtype("utf-8"))
        handle.attrs.update({"format": FORMAT, "channels": channels, "model_key": detector.spec.key,
                             "freeze": detector.freeze, "source_store": str(store_path),
                             "source_checkpoint": source_checkpoint or detector.source_checkpoint})
    return len(dataset)


class FeatureDataset(Dataset):
    """Cached features as (tensor [F, C], label, index), like WaveformDataset; use `collate_padded`
    and feed `inputs`/`lengths` to `Detector.suffix`. Opened lazily per worker process."""

    def __init__(self, path: str | Path) -> None:
        self.path = require_file(path, "feature cache", "run the feature-cache stage")
        with h5py.File(self.path, "r") as handle:
            if handle.attrs.get("format") != FORMAT:
                raise ValueError(f"{self.path}: not a {FORMAT} file")
            self.attrs: dict[str, Any] = {key: _plain(value) for key, value in handle.attrs.items()}
            self.labels = handle["label"][()]
            self.frames = handle["frames"][()]
            self.ids = handle["id"].asstr()[()].tolist()
        self.channels = int(self.attrs["channels"])
        self._handle: h5py.File | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        """Frames per segment (for batching by similar duration)."""
        return self.frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        flat = np.asarray(self._handle["features"][index], dtype=np.float32)
        features = torch.from_numpy(flat.reshape(int(self.frames[index]), self.channels))
        return features, int(self.labels[index]), index

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

    def check_compatible(self, detector: Detector) -> None:
        """Refuse to train `detector` on features made for another model or freeze boundary."""
        expected = {"model_key": detector.spec.key, "freeze": detector.freeze}
        found = {key: self.attrs.get(key) for key in expected}
        if found != expected:
            raise ValueError(f"{self.path}: cache made for {found}, but the detector is {expected}")


def _plain(value: Any) -> Any:
    """HDF5 attribute -> plain Python value."""
    return value.item() if isinstance(value, np.generic) else value
