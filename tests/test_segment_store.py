"""Segmentation edge cases and the HDF5 store round trip."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from deepfake_rl.data.audio_io import SAMPLE_RATE, write_wav
from deepfake_rl.data.manifest import write_manifest
from deepfake_rl.data.segment import fixed_bounds, random_bounds
from deepfake_rl.data.segment_stage import segment_corpus
from deepfake_rl.data.dataset import WaveformDataset, collate_padded
from deepfake_rl.data.store import Segment, read_store_manifest, write_store


def test_exact_multiple_gives_equal_chunks_and_no_empty_tail():
    assert fixed_bounds(12, 4) == [(0, 4), (4, 8), (8, 12)]


def test_last_shorter_chunk_is_kept():
    assert fixed_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_clip_shorter_than_max_is_one_segment():
    assert fixed_bounds(3, 4) == [(0, 3)]
    assert fixed_bounds(7, None) == [(0, 7)]


def test_empty_clip_has_no_segment():
    assert fixed_bounds(0, 4) == []
    assert random_bounds(0, 2, 5, np.random.default_rng(0)) == []


def test_min_samples_drops_only_the_too_short_tail():
    assert fixed_bounds(9, 4, min_samples=2) == [(0, 4), (4, 8)]
    assert fixed_bounds(1, 4, min_samples=2) == []


def test_random_bounds_cover_in_order_within_limits_and_are_seeded():
    bounds = random_bounds(1000, 30, 100, np.random.default_rng(1))
    assert bounds[0][0] == 0
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(30 <= end - start <= 100 for start, end in bounds)
    assert 1000 - bounds[-1][1] < 30
    assert bounds == random_bounds(1000, 30, 100, np.random.default_rng(1))


def _segments(lengths: list[int]) -> list[Segment]:
    rng = np.random.default_rng(0)
    return [Segment(waveform=rng.standard_normal(n).astype(np.float32), id=f"u{i}", source_id=f"s{i}",
                    label=i % 2, attack="-" if i % 2 else "world", speaker="spk", language="en", start=0.0)
            for i, n in enumerate(lengths)]


def test_store_round_trip_and_dataset(tmp_path):
    segments = _segments([1600, 800, 3200])
    path = tmp_path / "set.h5"
    assert write_store(path, segments, {"dataset": "set", "max_seconds": None}) == 3
    table = read_store_manifest(path)
    assert list(table["id"]) == ["u0", "u1", "u2"]
    assert list(table["label"]) == [0, 1, 0]
    assert np.allclose(table["duration"], [0.1, 0.05, 0.2])
    with h5py.File(path) as handle:
        assert handle.attrs["sample_rate"] == SAMPLE_RATE
        assert handle.attrs["max_seconds"] == "null"
    dataset = WaveformDataset(path)
    for index, segment in enumerate(segments):
        wave, label, position = dataset[index]
        assert torch.equal(wave, torch.from_numpy(segment.waveform))
        assert (label, position) == (segment.label, index)
    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=collate_padded)))
    assert batch["inputs"].shape == (3, 3200)
    assert batch["lengths"].tolist() == [1600, 800, 3200]
    assert torch.all(batch["inputs"][1, 800:] == 0)


def test_training_crop_shortens_only_long_waveforms(tmp_path):
    from deepfake_rl.train.loop import TrainingView

    path = tmp_path / "set.h5"
    write_store(path, _segments([1000, 300]), {})
    dataset = TrainingView(WaveformDataset(path), crop=400, seed=3)
    assert len(dataset[0][0]) == 400 and len(dataset[1][0]) == 300
    assert WaveformDataset(path).lengths().tolist() == [1000, 300]
    fresh = [TrainingView(WaveformDataset(path), crop=400, seed=3)[0][0] for _ in range(2)]
    assert torch.equal(fresh[0], fresh[1])  # the crop offset is seeded


def test_segment_corpus_writes_dfe24_style_chunks(tmp_path):
    durations = {"a": 10.0, "b": 4.0, "c": 2.5}
    rows = []
    (tmp_path / "audio").mkdir()
    for number, (name, seconds) in enumerate(durations.items()):
        wave = 0.1 * np.sin(np.arange(int(seconds * SAMPLE_RATE)) * 0.05 * (number + 1)).astype(np.float32)
        write_wav(tmp_path / "audio" / f"{name}.wav", wave)
        rows.append({"ID": name, "Label": "real" if number % 2 else "fake", "Duration": seconds,
                     "SampleRate": SAMPLE_RATE, "Path": f"audio/{name}.wav", "Attack": "-", "Speaker": "s",
                     "Proportion": "test", "AudioChannel": 1, "AudioEncoding": "PCM_16", "AudioBitSample": 16,
                     "Language": "en"})
    write_manifest(pd.DataFrame(rows), tmp_path / "manifest.csv")
    out = tmp_path / "store.h5"
    count = segment_corpus(tmp_path / "manifest.csv", out, proportion="test", max_seconds=4, dataset="t")
    table = read_store_manifest(out)
    assert count == 5  # a: 4+4+2, b: exactly 4, c: shorter than max
    assert list(table["id"]) == ["a_000", "a_001", "a_002", "b", "c"]
    assert np.allclose(table["duration"], [4, 4, 2, 4, 2.5])
    assert np.allclose(table["start"], [0, 4, 8, 0, 0])
    assert list(table["source_id"]) == ["a", "a", "a", "b", "c"]
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(ValueError, match="no clips with Proportion 'train'"):
        segment_corpus(tmp_path / "manifest.csv", tmp_path / "x.h5", proportion="train", dataset="t")
    assert not (tmp_path / "x.h5").exists()


def test_atomic_outputs_appear_whole_with_the_usual_permissions(tmp_path):
    import os

    from deepfake_rl.io_utils import atomic_path

    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []          # nothing half-written left
    with atomic_path(target) as temporary:
        temporary.write_text("whole")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == "whole" and (target.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_a_store_streamed_then_failing_leaves_nothing_behind(tmp_path):
    """open_store writes waveforms as they come (memory of one clip); an error before the end removes
    the temporary file, so no partial store that looks valid is ever left."""
    from deepfake_rl.data.store import Segment, open_store, read_store_manifest

    segment = Segment(np.ones(800, dtype=np.float32), "a", "a", 1, "-", "s", "en", 0.0)
    with pytest.raises(RuntimeError), open_store(tmp_path / "store.h5") as writer:
        writer.append(segment)
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []
    with open_store(tmp_path / "store.h5") as writer:
        writer.append(segment)
        writer.append(Segment(np.zeros(400, dtype=np.float32), "b", "b", 0, "x", "s", "en", 0.5))
        writer.finish({"dataset": "d"})
    manifest = read_store_manifest(tmp_path / "store.h5")
    assert list(manifest["id"]) == ["a", "b"] and list(manifest["duration"]) == [0.05, 0.025]


def test_tail_below_min_seconds_is_dropped_and_reported(tmp_path):
    """Issue 19.6: a last piece below `min_seconds` (default: the 400-sample receptive field) is not a
    trial; the clip's other segments stay and the dropped piece is listed in the skip report."""
    from deepfake_rl.data.segment_stage import DEFAULT_MIN_SECONDS, skip_report_path

    assert round(DEFAULT_MIN_SECONDS * SAMPLE_RATE) == 400
    rng = np.random.default_rng(0)
    rows = []
    for number, samples in enumerate([SAMPLE_RATE + 320, SAMPLE_RATE + 400, 200]):   # tails 20 ms, 25 ms; clip 12.5 ms
        write_wav(tmp_path / f"c{number}.wav", (0.1 * rng.standard_normal(samples)).astype(np.float32))
        rows.append({"ID": f"c{number}", "Label": "real" if number % 2 else "fake", "Duration": samples / SAMPLE_RATE,
                     "SampleRate": SAMPLE_RATE, "Path": f"c{number}.wav", "Attack": "-", "Speaker": "s",
                     "Proportion": "test", "AudioChannel": 1, "AudioEncoding": "PCM_16", "AudioBitSample": 16,
                     "Language": "en"})
    write_manifest(pd.DataFrame(rows), tmp_path / "manifest.csv")
    store = tmp_path / "s.h5"
    count = segment_corpus(tmp_path / "manifest.csv", store, proportion="test", max_seconds=1.0, dataset="d")
    assert count == 1 + 2           # c0: its 20 ms tail dropped; c1: the 25 ms tail kept; c2: nothing
    assert list(read_store_manifest(store)["id"]) == ["c0", "c1_000", "c1_001"]
    report = pd.read_csv(skip_report_path(store))
    assert len(report) == 2
    assert report["reason"].str.contains("piece 1.000-1.020 s", regex=False).sum() == 1
    assert report["reason"].str.contains("shorter than the segmentation's minimum", regex=False).sum() == 1
    with h5py.File(store, "r") as handle:
        assert handle.attrs["n_skipped"] == 2
    kept_all = segment_corpus(tmp_path / "manifest.csv", tmp_path / "all.h5", proportion="test", max_seconds=1.0,
                              dataset="d", min_seconds=0)
    assert kept_all == 2 + 2 + 1    # AntiDeepfake's rule: every last piece kept
