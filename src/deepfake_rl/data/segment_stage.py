"""The segmentation stage: one part of a corpus manifest -> one HDF5 waveform store."""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from deepfake_rl.data.audio_io import SAMPLE_RATE, load_audio
from deepfake_rl.data.manifest import label_index, read_manifest
from deepfake_rl.data.segment import fixed_bounds, random_bounds
from deepfake_rl.data.store import Segment, write_store
from deepfake_rl.seeding import rng_for

log = logging.getLogger(__name__)


def _seconds_to_samples(seconds: float | None) -> int | None:
    return None if seconds is None else max(1, int(round(seconds * SAMPLE_RATE)))


def segment_corpus(manifest_path: str | Path, output: str | Path, *, proportion: str,
                   max_seconds: float | None = None, random_seconds: list[float] | None = None,
                   min_seconds: float = 0.0, seed: int = 0, dataset: str = "") -> int:
    """Read the clips of one Proportion, cut them, write the store; return the segment count."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    part = manifest[manifest["Proportion"] == proportion]
    if part.empty:
        raise ValueError(f"{manifest_path}: no clips with Proportion {proportion!r} for dataset {dataset!r}")
    min_samples = max(1, _seconds_to_samples(min_seconds) or 1)
    segments: list[Segment] = []
    for row in tqdm(part.itertuples(index=False), total=len(part), desc=f"segment {dataset}", unit="clip"):
        wave = load_audio(manifest_path.parent / row.Path)
        if random_seconds is not None:
            low, high = (_seconds_to_samples(s) for s in random_seconds)
            bounds = random_bounds(len(wave), low, high, rng_for(seed, dataset, row.ID))
        else:
            bounds = fixed_bounds(len(wave), _seconds_to_samples(max_seconds), min_samples)
        if not bounds:
            log.warning("%s: clip %s (%.2f s) yields no segment", manifest_path, row.ID, len(wave) / SAMPLE_RATE)
        single = len(bounds) == 1
        for number, (start, end) in enumerate(bounds):
            segments.append(Segment(
                waveform=wave[start:end], id=row.ID if single else f"{row.ID}_{number:03d}",
                source_id=row.ID, label=label_index(row.Label), attack=row.Attack, speaker=row.Speaker,
                language=row.Language, start=start / SAMPLE_RATE))
    if not segments:
        raise ValueError(f"{manifest_path}: dataset {dataset!r} has no segments")
    attrs = {"dataset": dataset, "proportion": proportion, "max_seconds": max_seconds,
             "random_seconds": None if random_seconds is None else list(random_seconds),
             "min_seconds": min_seconds, "seed": seed, "source_manifest": str(manifest_path)}
    return write_store(output, segments, attrs)
