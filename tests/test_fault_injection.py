"""Fault injection through the workflow (issue 10, item 5): a corpus with a sprinkling of every bad-input
kind, imported and segmented by Snakemake (config/paper.yaml's rules on an ADD 2023-layout replica).
With `on_bad_file: skip` the run completes and every skip is reported (skipped.csv of the import, the
store's .skipped.csv of the segmentation); with `error` it stops at the import, naming the protocol
line and the file; a corpus-level fault (a duplicate entry) stops it whatever the policy."""

from __future__ import annotations

from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml

from tests.test_bad_input import CLIPS, USABLE, write_clips
from tests.test_paper_config import PAPER, paper, snakemake

pytestmark = pytest.mark.slow
STORE = "data/stores/add23.h5"
IMPORT_LOG = "logs/corpus/add23.log"


def faulty_add23(root: Path, extra: list[str] = ()) -> Path:
    """label.txt lists every clip of CLIPS plus a corrupt file (one of them missing from wav/)."""
    write_clips(root / "wav")
    names = [*CLIPS, "corrupt.wav"]
    (root / "label.txt").write_text("".join(f"{name} {'genuine' if n % 2 else 'fake'}\n" for n, name in
                                            enumerate(names)) + "".join(f"{line}\n" for line in extra))
    return root


def overlay(path: Path, add23_root: Path, **corpus: str) -> Path:
    """The user's paths file: every placeholder replaced (only add23 is ever read), plus corpus settings."""
    config = paper()
    empty = path.parent / "unused_corpus"
    empty.mkdir(exist_ok=True)
    domains = {name: {"root": str(add23_root if name == "add23" else empty)} for name in config["corpus"]["domains"]}
    checkpoints = {model: {kind: str(path.parent / f"{model}_{kind}.ckpt") for kind in entry}
                   for model, entry in config["checkpoints"].items()}
    path.write_text(yaml.safe_dump({"corpus": {**corpus, "domains": domains}, "checkpoints": checkpoints,
                                    "device": "cpu"}), encoding="utf-8")
    return path


def test_skip_policy_completes_and_reports_every_bad_clip(tmp_path: Path) -> None:
    root = faulty_add23(tmp_path / "corpora" / "testR2")
    paths = overlay(tmp_path / "my_paths.yaml", root, on_bad_file="skip", verify="header")
    work = tmp_path / "work"
    snakemake(work, "--cores", "2", STORE, configs=[PAPER, paths])
    imported = pd.read_csv(work / "data" / "corpus" / "add23" / "skipped.csv")      # header-level faults
    reasons = {Path(entry).name: reason for entry, reason in zip(imported["entry"], imported["reason"])}
    assert reasons.keys() == {"missing.wav", "corrupt.wav", "empty.wav"}
    assert "audio file not found" in reasons["missing.wav"] and "unreadable audio" in reasons["corrupt.wav"]
    assert "empty audio" in reasons["empty.wav"]
    segmented = pd.read_csv(work / "data" / "stores" / "add23.skipped.csv")         # decode-level faults
    reasons = {Path(entry.split(": ")[-1]).name: reason for entry, reason in zip(segmented["entry"], segmented["reason"])}
    assert reasons == {"silent.wav": "audio is silent (peak below 0.0001)",
                       "nan.wav": "audio contains NaN or infinite samples",
                       "inf.wav": "audio contains NaN or infinite samples",
                       # 200 samples: below the default min_seconds (the front end's 400-sample field)
                       "short.wav": "0.013 s is shorter than the segmentation's minimum of 0.025 s: no segment"}
    assert segmented["entry"].str.contains(r"manifest\.csv:\d+: ").all()                # each names its manifest line
    with h5py.File(work / STORE, "r") as store:
        kept = sorted(store["source_id"].asstr()[()])
        assert store.attrs["on_bad_file"] == "skip" and store.attrs["n_skipped"] == 4
    assert kept == sorted(f"ADD23-{name}" for name in USABLE if name != "short.wav")                        # nothing substituted
    log = (work / "logs" / "stores" / "add23.log").read_text(encoding="utf-8")
    assert "4 clips or pieces left out (of 7 clips); listed in" in log


def test_error_policy_stops_early_naming_line_and_file(tmp_path: Path) -> None:
    root = faulty_add23(tmp_path / "corpora" / "testR2")
    paths = overlay(tmp_path / "my_paths.yaml", root, on_bad_file="error")            # paper.yaml: verify decode
    work = tmp_path / "work"
    output = snakemake(work, "--cores", "2", STORE, configs=[PAPER, paths], check=False)
    assert "Error in rule import_domain" in output and not (work / STORE).exists()
    log = (work / IMPORT_LOG).read_text(encoding="utf-8")
    assert f"import_domain: {root / 'label.txt'}:5: {root / 'wav' / 'missing.wav'}: audio file not found" in log
    assert "Traceback" not in log and "Traceback" not in output   # an expected data error: one message


def test_a_corpus_level_fault_stops_the_run_whatever_the_policy(tmp_path: Path) -> None:
    root = faulty_add23(tmp_path / "corpora" / "testR2", extra=["good.wav genuine"])
    paths = overlay(tmp_path / "my_paths.yaml", root, on_bad_file="skip", verify="header")
    work = tmp_path / "work"
    output = snakemake(work, "--cores", "2", STORE, configs=[PAPER, paths], check=False)
    assert "Error in rule import_domain" in output and not (work / STORE).exists()
    log = (work / IMPORT_LOG).read_text(encoding="utf-8")
    assert f"{root / 'label.txt'}:11: duplicate entry 'ADD23-good.wav' (first at {root / 'label.txt'}:1)" in log
