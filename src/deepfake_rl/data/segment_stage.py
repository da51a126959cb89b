"""The segmentation stage: one part of a corpus manifest -> one HDF5 waveform store, plus its skip report.

Every clip is decoded here (16 kHz mono, checked by `load_audio`). A clip that cannot be used
follows the bad-file policy (deepfake_rl.data.bad_files): `error` stops the job naming the manifest
line and the file, `skip` leaves it out. The report `<store>.skipped.csv` lists every clip that gave
no segment and why: bad files under `skip`, and clips too short for the segmentation protocol
(e.g. below DEEP-VOICE's 1.5 s minimum) under either policy, and every last piece shorter than
`min_seconds` that was dropped from a clip that kept other segments. Nothing is ever substituted.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from deepfake_rl.data.audio_io import SAMPLE_RATE, AudioError, load_audio
from deepfake_rl.data.bad_files import SKIP_ADVICE, Skipped, check_policy, skip_summary, skipped_file, write_skip_report
from deepfake_rl.data.manifest import label_index, read_manifest
from deepfake_rl.data.segment import DEFAULT_MIN_SECONDS, fixed_bounds, random_bounds
from deepfake_rl.data.store import Segment, open_store
from deepfake_rl.errors import DataError
from deepfake_rl.seeding import rng_for

log = logging.getLogger(__name__)


def _seconds_to_samples(seconds: float | None) -> int | None:
    return None if seconds is None else max(1, int(round(seconds * SAMPLE_RATE)))


def skip_report_path(store: str | Path) -> Path:
    """Where the skip report of a store goes: next to it, `<store stem>.skipped.csv`."""
    store = Path(store)
    return store.with_name(f"{store.stem}.skipped.csv")


def segment_corpus(manifest_path: str | Path, output: str | Path, *, proportion: str,
                   max_seconds: float | None = None, random_seconds: list[float] | None = None,
                   min_seconds: float = DEFAULT_MIN_SECONDS, seed: int = 0, dataset: str = "", on_bad_file: str = "error") -> int:
    """Read the clips of one Proportion, cut them, write the store and its skip report
    (`skip_report_path(output)`); return the segment count."""
    policy = check_policy(on_bad_file)
    manifest_path = Path(manifest_path)
    report = skip_report_path(output)
    manifest = read_manifest(manifest_path)
    part = manifest[manifest["Proportion"] == proportion]
    if part.empty:
        raise DataError(f"{manifest_path}: no clips with Proportion {proportion!r} for dataset {dataset!r}")
    min_samples = max(1, _seconds_to_samples(min_seconds) or 1)
    skipped: list[Skipped] = []
    labels: set[int] = set()
    with open_store(output) as store:    # streamed: memory of one clip, not of the dataset
        for row in tqdm(part.itertuples(), total=len(part), desc=f"segment {dataset}", unit="clip"):
            where, path = f"{manifest_path}:{row.Index + 2}", manifest_path.parent / row.Path  # header is line 1
            try:
                wave = load_audio(path)
            except AudioError as error:
                if policy == "error":
                    raise AudioError(f"{where}: {error}; {SKIP_ADVICE.format(report=report)}") from None
                skipped.append(skipped_file(path, error, where))
                continue
            if random_seconds is not None:
                low, high = (_seconds_to_samples(s) for s in random_seconds)
                bounds = random_bounds(len(wave), low, high, rng_for(seed, dataset, row.ID))
            else:
                bounds = fixed_bounds(len(wave), _seconds_to_samples(max_seconds), min_samples)
                if bounds and bounds[-1][1] < len(wave):   # only the last piece can be short; a clip with none
                    start, end = bounds[-1][1], len(wave)  # at all is reported below, once
                    skipped.append(Skipped(f"{where}: {path}", f"piece {start / SAMPLE_RATE:.3f}-{end / SAMPLE_RATE:.3f} s "
                                           f"({(end - start) / SAMPLE_RATE:.3f} s) is shorter than min_seconds "
                                           f"{min_seconds:g} s: dropped"))
            if not bounds:
                shortest = (random_seconds or [min_seconds])[0]
                skipped.append(Skipped(f"{where}: {path}", f"{len(wave) / SAMPLE_RATE:.3f} s is shorter than the "
                                       f"segmentation's minimum of {shortest:g} s: no segment"))
                continue
            single = len(bounds) == 1
            labels.add(label_index(row.Label))
            for number, (start, end) in enumerate(bounds):
                store.append(Segment(
                    waveform=wave[start:end], id=row.ID if single else f"{row.ID}_{number:03d}",
                    source_id=row.ID, label=label_index(row.Label), attack=row.Attack, speaker=row.Speaker,
                    language=row.Language, start=start / SAMPLE_RATE))
        if not store.count:
            raise DataError(f"{manifest_path}: dataset {dataset!r} has no segments{skip_summary(skipped)}")
        if len(labels) == 1:
            log.warning("%s: dataset %r holds %s clips only: its EER is undefined (NaN in the tables, with a note)",
                        manifest_path, dataset, "real" if labels == {1} else "fake")
        store.finish({"dataset": dataset, "proportion": proportion, "max_seconds": max_seconds,
                      "random_seconds": None if random_seconds is None else list(random_seconds),
                      "min_seconds": min_seconds, "seed": seed, "source_manifest": str(manifest_path),
                      "on_bad_file": policy, "n_skipped": len(skipped)})    # clips and dropped pieces
    write_skip_report(report, skipped)
    for item in skipped:
        log.warning("skipped %s: %s", item.entry, item.reason)
    if skipped:
        log.warning("%s: %d clips or pieces left out (of %d clips); listed in %s", dataset, len(skipped), len(part), report)
    return store.count
