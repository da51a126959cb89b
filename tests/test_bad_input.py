"""Bad input (issue 10, item 1): every kind of unusable clip or corpus either stops the job with the
file (and line) and the reason, or, where the config allows it, is skipped and listed in a report;
never silently replaced. Cases already covered elsewhere: malformed protocol lines, unknown labels and
`..` paths (test_corpora), manifest errors (test_config_manifest), missing/unreadable files at import
(test_corpora, test_paper_config), one-class EER in the metrics (test_metrics)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from deepfake_rl.config import ConfigError, validate_config
from deepfake_rl.data.audio_io import AudioError, load_audio
from deepfake_rl.data.corpora import CorpusError, load_corpus
from deepfake_rl.data.dataset import WaveformDataset
from deepfake_rl.data.manifest import write_manifest
from deepfake_rl.data.segment_stage import segment_corpus, skip_report_path
from deepfake_rl.data.store import Segment, read_store_manifest, write_store
from deepfake_rl.models import Detector, ModelSpec
from deepfake_rl.scoring import score_dataset
from deepfake_rl.tables import metrics_long, table1
from tests.test_corpora import add23_replica, tone, wav
from tests.test_models import TINY, make_store

SIGNAL = tone(0.5, 16000).astype(np.float32)


def non_finite(value: float) -> np.ndarray:
    samples = SIGNAL.copy()
    samples[100] = value
    return samples


# file name -> (samples, sample rate, soundfile subtype); None: the file is not written (missing)
CLIPS: dict[str, tuple[np.ndarray, int, str] | None] = {
    "good.wav": (SIGNAL, 16000, "PCM_16"),
    "stereo44k.wav": (np.stack([tone(0.5, 44100), 0.5 * tone(0.5, 44100)], axis=1), 44100, "PCM_16"),
    "odd11025.wav": (tone(0.5, 11025), 11025, "PCM_16"),
    "short.wav": (SIGNAL[:200], 16000, "PCM_16"),            # below the 400-sample receptive field: kept at min_seconds 0
    "missing.wav": None,
    "empty.wav": (np.zeros(0, dtype=np.float32), 16000, "PCM_16"),
    "silent.wav": (np.zeros(8000, dtype=np.float32), 16000, "PCM_16"),
    "nan.wav": (non_finite(np.nan), 16000, "FLOAT"),
    "inf.wav": (non_finite(np.inf), 16000, "FLOAT"),
}
USABLE = ("good.wav", "stereo44k.wav", "odd11025.wav", "short.wav")
REASONS = {"missing.wav": "audio file not found", "empty.wav": "empty audio (zero samples)",
           "silent.wav": "audio is silent", "nan.wav": "audio contains NaN or infinite samples",
           "inf.wav": "audio contains NaN or infinite samples",
           "corrupt.wav": "unreadable audio"}


def write_clips(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, clip in CLIPS.items():
        if clip is not None:
            samples, rate, subtype = clip
            sf.write(folder / name, samples, rate, subtype=subtype)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage, not audio")


def manifest_of(folder: Path, names: list[str], labels: list[str] | None = None) -> Path:
    """A manifest as a stale or hand-made one could be: it lists clips that turned out bad."""
    labels = labels or ["real" if n % 2 else "fake" for n in range(len(names))]
    rows = [{"ID": name, "Label": label, "Duration": 0.5, "SampleRate": 16000, "Path": f"audio/{name}",
             "Attack": "-", "Speaker": "s", "Proportion": "test", "AudioChannel": 1, "AudioEncoding": "PCM_16",
             "AudioBitSample": 16, "Language": "en"} for name, label in zip(names, labels)]
    write_manifest(pd.DataFrame(rows), folder / "manifest.csv")
    return folder / "manifest.csv"


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    write_clips(tmp_path / "audio")
    return manifest_of(tmp_path, [*CLIPS, "corrupt.wav"])


# --- segmentation: the bad-file policy -------------------------------------------------------------

@pytest.mark.parametrize("bad", sorted(REASONS))
def test_a_bad_clip_stops_the_segmentation_naming_line_file_and_reason(tmp_path: Path, bad: str) -> None:
    write_clips(tmp_path / "audio")
    manifest = manifest_of(tmp_path, ["good.wav", bad])
    store = tmp_path / "stores" / "set.h5"
    with pytest.raises(AudioError) as error:
        segment_corpus(manifest, store, proportion="test", dataset="set")
    message = str(error.value)
    assert message.startswith(f"{manifest}:3: {tmp_path / 'audio' / bad}: ")   # line 3: the second clip
    assert REASONS[bad] in message and "set corpus.on_bad_file: skip" in message
    assert not store.exists() and not skip_report_path(store).exists()


def test_skip_policy_leaves_bad_clips_out_and_lists_each_one(corpus: Path, tmp_path: Path) -> None:
    store = tmp_path / "stores" / "set.h5"
    count = segment_corpus(corpus, store, proportion="test", dataset="set", on_bad_file="skip", min_seconds=0)
    table = read_store_manifest(store)
    assert count == len(USABLE) and sorted(table["id"]) == sorted(USABLE)   # nothing substituted
    report = pd.read_csv(skip_report_path(store))
    assert skip_report_path(store) == tmp_path / "stores" / "set.skipped.csv"
    assert list(report.columns) == ["entry", "reason"]
    listed = {Path(entry.split(": ")[-1]).name: reason for entry, reason in zip(report["entry"], report["reason"])}
    assert listed.keys() == REASONS.keys()
    for name, reason in REASONS.items():
        assert reason in listed[name], name
    lines = [entry.split(": ")[0].rsplit(":", 1)[1] for entry in report["entry"]]
    assert lines == ["6", "7", "8", "9", "10", "11"]   # manifest lines of the bad clips, in order
    durations = dict(zip(table["id"], table["duration"]))
    assert durations["short.wav"] == pytest.approx(200 / 16000)
    assert durations["stereo44k.wav"] == pytest.approx(0.5, abs=1e-3)       # resampled from 44.1 kHz
    assert durations["odd11025.wav"] == pytest.approx(0.5, abs=1e-3)


def test_a_clean_part_gets_an_empty_report_and_protocol_drops_are_listed(corpus: Path, tmp_path: Path) -> None:
    """Clips the segmentation protocol drops (shorter than its minimum) are listed under either policy."""
    manifest = manifest_of(tmp_path, list(USABLE))
    store = tmp_path / "clean.h5"
    assert segment_corpus(manifest, store, proportion="test", dataset="clean", min_seconds=0) == len(USABLE)
    assert pd.read_csv(skip_report_path(store)).empty
    for minimum, shown in ((None, "0.025"), (0.1, "0.1")):   # None: the default, the receptive field
        extra = {} if minimum is None else {"min_seconds": minimum}
        assert segment_corpus(manifest, store, proportion="test", dataset="clean", **extra) == len(USABLE) - 1
        report = pd.read_csv(skip_report_path(store))
        assert report["entry"].str.endswith("short.wav").tolist() == [True]
        assert f"0.013 s is shorter than the segmentation's minimum of {shown} s" in report["reason"].iloc[0]


def test_all_clips_bad_or_no_clip_of_the_part_is_an_error_not_an_empty_store(tmp_path: Path) -> None:
    write_clips(tmp_path / "audio")
    manifest = manifest_of(tmp_path, ["silent.wav", "nan.wav"])
    with pytest.raises(ValueError, match=r"dataset 'set' has no segments \(skipped 2: .*silent\.wav: audio is silent"):
        segment_corpus(manifest, tmp_path / "set.h5", proportion="test", dataset="set", on_bad_file="skip")
    with pytest.raises(ValueError, match="no clips with Proportion 'valid' for dataset 'set'"):   # empty test set
        segment_corpus(manifest, tmp_path / "set.h5", proportion="valid", dataset="set", on_bad_file="skip")
    assert not (tmp_path / "set.h5").exists()
    with pytest.raises(ValueError, match="on_bad_file 'ignore'"):
        segment_corpus(manifest, tmp_path / "set.h5", proportion="test", on_bad_file="ignore")


def test_the_policy_reaches_the_segment_rule_and_is_validated(default_config: dict) -> None:
    from snakemake.utils import validate

    from deepfake_rl.config import SCHEMA_PATH

    default_config["corpus"]["on_bad_file"] = "skip"
    validate(default_config, str(SCHEMA_PATH))
    default_config["corpus"]["on_bad_file"] = "ignore"
    with pytest.raises(ConfigError, match=r"corpus.on_bad_file: 'ignore' is not one of \['error', 'skip'\]"):
        validate_config(default_config)
    rules = (Path(__file__).parents[1] / "rules" / "data.smk").read_text(encoding="utf-8")
    segment = rules[rules.index("rule segment:"):]
    assert 'skipped=f"{DATA}/stores/{{dataset}}.skipped.csv"' in segment and "on_bad_file=" in segment


# --- loaders and single files ----------------------------------------------------------------------

def test_empty_and_non_finite_files_name_the_file(tmp_path: Path) -> None:
    write_clips(tmp_path)
    for name in ("empty.wav", "nan.wav", "inf.wav"):
        with pytest.raises(AudioError, match=re.escape(f"{name}: {REASONS[name]}")):
            load_audio(tmp_path / name)


def test_zero_length_file_at_import_follows_the_policy(tmp_path: Path) -> None:
    root = add23_replica(tmp_path / "testR2", extra=["empty.wav fake"])
    sf.write(root / "wav" / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(CorpusError, match=r"label\.txt:3: .*empty\.wav: empty audio or no duration"):
        load_corpus("add23", root)
    result = load_corpus("add23", root, on_bad_file="skip")
    assert len(result.manifest) == 2 and [item.reason for item in result.skipped] == \
        ["empty audio or no duration in the header (0 s)"]


def test_duplicate_ids_are_corpus_errors_whatever_the_policy(tmp_path: Path) -> None:
    root = add23_replica(tmp_path / "testR2", extra=["ADD2023_T1.2R2_E_00000003.wav fake"])
    with pytest.raises(CorpusError, match=r"label\.txt:3: duplicate entry 'ADD23-ADD2023_T1\.2R2_E_00000003\.wav' "
                                          r"\(first at .*label\.txt:1\)"):
        load_corpus("add23", root, on_bad_file="skip")
    segment = Segment(SIGNAL, "clip", "clip", 1, "-", "s", "en", 0.0)
    with pytest.raises(ValueError, match=r"set\.h5: duplicate segment id 'clip'"):
        write_store(tmp_path / "set.h5", [segment, segment], {})
    assert not (tmp_path / "set.h5").exists()


# --- models and tables -------------------------------------------------------------------------------

@pytest.mark.parametrize("freeze", ["none", "layers:1"])
def test_clips_shorter_than_the_receptive_field_are_padded_and_scored(tmp_path: Path, freeze: str) -> None:
    spec = ModelSpec.from_config("tiny", TINY)
    assert spec.receptive_field == 400
    store = make_store(tmp_path / "short.h5", [1, 50, 399, 400, 4000], [0, 1, 0, 1, 0])
    scores = score_dataset(Detector(spec, freeze=freeze), WaveformDataset(store), inputs_are_features=False,
                           batch_size=2, progress=False)
    assert scores.logits.shape == (5, 2) and np.isfinite(scores.logits).all() and np.isfinite(scores.embeddings).all()
    alone = score_dataset(Detector(spec, freeze=freeze), WaveformDataset(store), inputs_are_features=False,
                          batch_size=1, progress=False)
    torch.testing.assert_close(torch.from_numpy(scores.logits), torch.from_numpy(alone.logits), atol=1e-5, rtol=0)


def test_a_one_class_test_set_gets_nan_and_a_note_never_a_number(tmp_path: Path) -> None:
    runs = tmp_path / "runs" / "tiny" / "sft" / "seed1" / "scores"
    runs.mkdir(parents=True)
    both = pd.DataFrame({"ID": list("abcd"), "label": [0, 1, 0, 1], "score": [0.1, 0.9, 0.2, 0.8],
                         "p_real": 0.5, "logit_fake": [0.9, 0.1, 0.8, 0.2], "logit_real": [0.1, 0.9, 0.2, 0.8]})
    both.to_csv(runs / "add23.csv", index=False)
    both.assign(label=0).to_csv(runs / "for.csv", index=False)                 # fakes only
    test_sets = {"in_domain": {"add23": "ADD23"}, "out_of_domain": {"for": "FoR"}}
    table = table1([runs / "add23.csv", runs / "for.csv"], test_sets, {"tiny": "Tiny"}, tmp_path / "eer_long.csv",
                   tmp_path / "table1.csv")
    assert table["ADD23"].iloc[0] == 0.0 and np.isnan(table["FoR"].iloc[0])
    assert np.isnan(table["out-of-domain ave."].iloc[0])                         # not averaged away
    long = pd.read_csv(tmp_path / "eer_long.csv").set_index("dataset")
    assert np.isnan(long.loc["for", "eer"]) and "both classes" in long.loc["for", "note"]
    assert (long.loc["for", "n_real"], long.loc["for", "n_fake"]) == (0, 4)
    written = pd.read_csv(tmp_path / "table1.csv")
    assert np.isnan(written["FoR"].iloc[0])                                     # an empty cell, not a number
    metrics = metrics_long([runs / "for.csv"], tmp_path / "metrics_long.csv")
    assert metrics[["eer", "min_dcf", "auc", "acc"]].isna().all(axis=None) and metrics["note"].iloc[0]


def test_a_one_class_validation_set_stops_fine_tuning_before_training(tmp_path: Path) -> None:
    """Without the check, the job would train `valid_every` steps and then fail inside the EER."""
    from deepfake_rl import stages
    from deepfake_rl.models import save_detector
    from tests.test_training import labelled_store

    fake_only = [Segment(SIGNAL, f"f{i}", f"f{i}", 0, "a", "s", "en", 0.0) for i in range(3)]
    write_store(tmp_path / "valid.h5", fake_only, {})
    labelled_store(tmp_path / "train.h5", 4, 0)
    save_detector(Detector(ModelSpec.from_config("tiny", {"label": "Tiny", **TINY}), seed=0), tmp_path / "init.safetensors")
    with pytest.raises(ValueError, match=r"valid\.h5: validation set with 0 real and 3 fake clips"):
        stages.finetune("tiny", {"label": "Tiny", **TINY}, {"loss": "sft", "init": "posttrained", "lr": 1e-3},
                        {"freeze": "none", "batch_size": 2}, 1, tmp_path / "init.safetensors", tmp_path / "train.h5",
                        tmp_path / "valid.h5", tmp_path / "out" / "model.safetensors", tmp_path / "out" / "log.csv")
    assert not (tmp_path / "out" / "model.safetensors").exists()
