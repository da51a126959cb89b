"""Real-corpus loaders on miniature replicas of each corpus layout (generated clips, seconds)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from deepfake_rl.data.corpora import (LOADERS, CorpusError, decode_audio, get_loader, load_corpus,
                                      probe_audio)
from deepfake_rl.data.audio_io import load_audio
from deepfake_rl.data.manifest import COLUMNS, validate_manifest, write_manifest, read_manifest


def tone(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A voiced-like tone with a little noise; stereo channels differ so mixing down is visible."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(t.size)
    return np.stack([mono * (1 + 0.5 * c) for c in range(channels)], axis=1) if channels > 1 else mono


def wav(path: Path, seconds: float = 0.5, rate: int = 16000, channels: int = 1, subtype: str = "PCM_16",
        fmt: str = "WAV") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, rate, channels), rate, subtype=subtype, format=fmt)
    return path


def encoded(path: Path, seconds: float = 0.5, rate: int = 44100, channels: int = 1, video: bool = False) -> Path:
    """mp3/m4a/mp4 made by ffmpeg (argument list); mp4 with a video stream if asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
               f"sine=frequency=220:sample_rate={rate}:duration={seconds}"]
    if video:
        command += ["-f", "lavfi", "-i", f"color=c=black:s=32x32:d={seconds}", "-c:v", "mpeg4"]
    command += ["-ac", str(channels), "-c:a", "libmp3lame" if path.suffix == ".mp3" else "aac",
                "-shortest", "file:" + str(path.absolute())]
    subprocess.run(command, check=True, capture_output=True)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def by_id(manifest, key: str) -> dict:
    return manifest.set_index("ID").loc[key].to_dict()


# --- media ----------------------------------------------------------------------------------------

def test_decode_audio_formats_and_mixdown(tmp_path: Path) -> None:
    stereo = wav(tmp_path / "stereo.wav", seconds=0.5, rate=48000, channels=2)
    samples, rate = decode_audio(stereo)
    assert rate == 48000 and samples.dtype == np.float32 and samples.ndim == 1
    assert np.allclose(samples, tone(0.5, 48000, 2).mean(axis=1), atol=1e-4)   # channels averaged
    mp3 = encoded(tmp_path / "-odd name; touch pwned:1.mp3", seconds=0.6, rate=44100, channels=2)
    samples, rate = decode_audio(mp3)
    info = probe_audio(mp3)
    assert (rate, info.channels, info.encoding) == (44100, 2, "mp3")
    assert samples.dtype == np.float32 and abs(samples.size / rate - 0.6) < 0.1
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()   # no shell ever ran
    assert load_audio(mp3).size == pytest.approx(16000 * samples.size / rate, abs=2)


def test_probe_reads_headers(tmp_path: Path) -> None:
    info = probe_audio(wav(tmp_path / "a.flac", seconds=0.75, rate=22050, channels=2, fmt="FLAC"))
    assert (info.duration, info.sample_rate, info.channels, info.encoding, info.bits_per_sample) == \
        (pytest.approx(0.75, abs=1e-3), 22050, 2, "PCM_16", 16)
    info = probe_audio(encoded(tmp_path / "v.mp4", seconds=1.0, rate=16000, video=True))
    assert (info.sample_rate, info.channels, info.encoding) == (16000, 1, "aac")
    assert info.duration == pytest.approx(1.0, abs=0.1)


# --- Deepfake-Eval-2024 ---------------------------------------------------------------------------

def dfe24_replica(root: Path) -> Path:
    audio = root / "audio-data"
    wav(audio / "clipA.wav", seconds=0.8)
    wav(audio / "clipB.wav", seconds=0.6, rate=48000, channels=2)
    encoded(audio / "clipC.mp3", seconds=0.7)
    encoded(audio / "clipD.m4a", seconds=0.5, rate=48000, channels=2)
    encoded(audio / "clipE.mp4", seconds=0.5, video=True)
    write_csv(root / "audio-metadata-publish.csv",
              ["Filename", "Date", "Ground Truth", "Public Comments", "Finetuning Set"],
              [["clipA.wav", "2024-04-23", "Real", "", "Train"],
               ["clipB.wav", "2024-05-14", "Fake", "lip sync is off, \"dupe\"", "Test"],
               ["clipC.mp3", "2024-02-21", "Fake", "", "Train"],
               ["clipD.m4a", "2024-07-09", "Real", "https://example.org/a,b", "Test"],
               ["clipE.mp4", "2024-10-13", "Fake", "", "Test"]])
    return root


def test_dfe24_mixed_containers(tmp_path: Path) -> None:
    result = load_corpus("dfe24", dfe24_replica(tmp_path / "DFE24"))
    manifest = validate_manifest(result.manifest, "dfe24")
    assert list(manifest.columns) == list(COLUMNS) and len(manifest) == 5 and result.skipped == []
    b = by_id(manifest, "DFE24-clipB.wav")
    assert (b["Label"], b["Proportion"], b["SampleRate"], b["AudioChannel"]) == ("fake", "test", 48000, 2)
    assert by_id(manifest, "DFE24-clipA.wav")["Proportion"] == "train"
    assert by_id(manifest, "DFE24-clipC.mp3")["AudioEncoding"] == "mp3"
    assert by_id(manifest, "DFE24-clipD.m4a")["Label"] == "real"
    assert by_id(manifest, "DFE24-clipE.mp4")["Duration"] == pytest.approx(0.5, abs=0.1)
    assert all((result.root / path).is_file() for path in manifest["Path"])
    # The manifest can live in the corpus root: it round-trips through the repository's writer/reader.
    write_manifest(manifest, result.root / "manifest.csv")
    assert len(read_manifest(result.root / "manifest.csv")) == 5


def test_dfe24_unknown_label_names_the_line(tmp_path: Path) -> None:
    root = dfe24_replica(tmp_path / "DFE24")
    rows = list(csv.reader(open(root / "audio-metadata-publish.csv", encoding="utf-8")))
    rows[3][2] = "Maybe"
    write_csv(root / "audio-metadata-publish.csv", rows[0], rows[1:])
    with pytest.raises(CorpusError, match=r"audio-metadata-publish\.csv:4: unknown Ground Truth 'Maybe'"):
        load_corpus("dfe24", root, other_rows="strict")   # the default leaves such rows out (test_real_corpus_loaders)


# --- ADD 2023 -------------------------------------------------------------------------------------

def add23_replica(root: Path, extra: list[str] = ()) -> Path:
    wav(root / "wav" / "ADD2023_T1.2R2_E_00000003.wav")
    wav(root / "wav" / "ADD2023_T1.2R2_E_00000004.wav", rate=44100)
    write_lines(root / "label.txt", ["ADD2023_T1.2R2_E_00000003.wav genuine",
                                     "ADD2023_T1.2R2_E_00000004.wav fake", *extra])
    return root


def test_add23(tmp_path: Path) -> None:
    manifest = load_corpus("add23", add23_replica(tmp_path / "testR2")).manifest
    assert dict(zip(manifest["ID"], manifest["Label"])) == {"ADD23-ADD2023_T1.2R2_E_00000003.wav": "real",
                                                            "ADD23-ADD2023_T1.2R2_E_00000004.wav": "fake"}
    assert set(manifest["Proportion"]) == {"test"} and set(manifest["Language"]) == {"zh"}
    assert manifest["Path"].iloc[0] == "wav/ADD2023_T1.2R2_E_00000003.wav"


def test_malformed_protocol_line_is_an_error_naming_it(tmp_path: Path) -> None:
    root = add23_replica(tmp_path / "testR2", extra=["ADD2023_T1.2R2_E_00000005.wav fake extra-field"])
    with pytest.raises(CorpusError, match=r"label\.txt:3: expected '<file> genuine\|fake', got 3 fields"):
        load_corpus("add23", root, on_bad_file="skip")   # the policy covers files, never malformed rows


@pytest.mark.parametrize("bad", ["../escape.wav", "/etc/passwd", "C:\\x.wav", "wav/../../x.wav"])
def test_paths_leaving_the_root_are_rejected(tmp_path: Path, bad: str) -> None:
    root = add23_replica(tmp_path / "testR2", extra=[f"{bad} fake"])
    with pytest.raises(CorpusError, match=r"label\.txt:3: path .* must be relative and stay under the corpus root"):
        load_corpus("add23", root, on_bad_file="skip")


def test_missing_and_unreadable_files_follow_the_policy(tmp_path: Path) -> None:
    root = add23_replica(tmp_path / "testR2", extra=["gone.wav fake", "broken.wav genuine"])
    (root / "wav" / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wav")
    with pytest.raises(CorpusError, match=r"label\.txt:3: .*gone\.wav: audio file not found"):
        load_corpus("add23", root)
    result = load_corpus("add23", root, on_bad_file="skip")
    assert len(result.manifest) == 2
    reasons = {item.entry.split(": ")[0].rsplit(":", 1)[1]: item.reason for item in result.skipped}
    assert set(reasons) == {"3", "4"}
    assert "not found" in reasons["3"] and "unreadable" in reasons["4"]
    with pytest.raises(ValueError, match="on_bad_file 'ignore'"):
        load_corpus("add23", root, on_bad_file="ignore")


# --- Fake-or-Real ---------------------------------------------------------------------------------

def test_fake_or_real_versions_and_parts(tmp_path: Path) -> None:
    root = tmp_path / "FakeOrReal"
    for folder in ("for-original", "for-norm", "for-2seconds", "for-rerecorded"):
        for part in ("training", "validation", "testing"):
            wav(root / folder / part / "real" / "file1.wav")
            wav(root / folder / part / "fake" / "file1.wav")
    encoded(root / "for-original" / "testing" / "fake" / "file2.mp3")
    (root / "for-norm" / "testing" / "real" / ".DS_Store").write_bytes(b"\0")
    result = load_corpus("for", root)   # for-norm, testing only
    assert len(result.manifest) == 2 and set(result.manifest["Proportion"]) == {"test"}
    assert sorted(result.manifest["Label"]) == ["fake", "real"]
    assert [item.reason for item in result.skipped] == ["not an audio file (ignored)"]
    original = load_corpus("for", root, version="for-original").manifest
    assert "FoR-for-original-testing-fake-file2.mp3" in set(original["ID"])
    assert len(load_corpus("for", root, version="for-2sec", parts=("training", "validation", "testing")).manifest) == 6
    assert load_corpus("for", root, version="for-rerec").manifest["Path"].str.startswith("for-rerecorded/").all()
    with pytest.raises(ValueError, match="FoR version"):
        load_corpus("for", root, version="for-3sec")


# --- DEEP-VOICE -----------------------------------------------------------------------------------

def test_deep_voice_long_stereo_files(tmp_path: Path) -> None:
    root = tmp_path / "DEEP-VOICE"
    wav(root / "KAGGLE" / "AUDIO" / "REAL" / "biden-original.wav", seconds=2.0, rate=48000, channels=2)
    wav(root / "KAGGLE" / "AUDIO" / "FAKE" / "biden-to-linus.wav", seconds=2.0, rate=48000, channels=2)
    write_csv(root / "KAGGLE" / "DATASET-balanced.csv", ["chroma_stft", "LABEL"], [["0.3", "REAL"]])
    manifest = validate_manifest(load_corpus("dv", root).manifest, "dv")
    fake = by_id(manifest, "DV-FAKE-biden-to-linus.wav")
    assert (fake["Label"], fake["Attack"], fake["AudioChannel"], fake["SampleRate"]) == ("fake", "VC", 2, 48000)
    assert fake["Duration"] == pytest.approx(2.0)
    assert by_id(manifest, "DV-REAL-biden-original.wav")["Attack"] == "-"
    with pytest.raises(CorpusError, match=r"missing \['KAGGLE/AUDIO/REAL', 'KAGGLE/AUDIO/FAKE'\]"):
        load_corpus("dv", tmp_path)


# --- In-the-Wild ----------------------------------------------------------------------------------

def test_in_the_wild_hyphenated_label(tmp_path: Path) -> None:
    root = tmp_path / "release_in_the_wild"
    wav(root / "0.wav")
    wav(root / "1.wav", rate=44100)
    write_csv(root / "meta.csv", ["file", "speaker", "label"],
              [["0.wav", "Alec Guinness", "spoof"], ["1.wav", "Smith, Jr.", "bona-fide"]])
    manifest = load_corpus("itw", root).manifest
    assert dict(zip(manifest["ID"], manifest["Label"])) == {"ItW-0.wav": "fake", "ItW-1.wav": "real"}
    assert by_id(manifest, "ItW-1.wav")["Speaker"] == "Smith, Jr."
    write_csv(root / "meta.csv", ["file", "speaker", "label"], [["0.wav", "A", "bonafide"]])
    with pytest.raises(CorpusError, match=r"meta\.csv:2: unknown label 'bonafide'"):
        load_corpus("itw", root)
    write_csv(root / "meta.csv", ["file", "speaker", "label"], [["0.wav", "A", "spoof", "extra"]])
    with pytest.raises(CorpusError, match=r"meta\.csv:2: 4 fields, the header has 3"):
        load_corpus("itw", root)


# --- ASVspoof 2019 LA -----------------------------------------------------------------------------

def asv19_replica(root: Path) -> Path:
    protocols = root / "ASVspoof2019_LA_cm_protocols"
    for part, letter in (("train", "T"), ("dev", "D"), ("eval", "E")):
        wav(root / f"ASVspoof2019_LA_{part}" / "flac" / f"LA_{letter}_1000001.flac", fmt="FLAC")
        wav(root / f"ASVspoof2019_LA_{part}" / "flac" / f"LA_{letter}_1000002.flac", fmt="FLAC")
        kind = "trn" if part == "train" else "trl"
        write_lines(protocols / f"ASVspoof2019.LA.cm.{part}.{kind}.txt",
                    [f"LA_0079 LA_{letter}_1000001 - - bonafide", f"LA_0080 LA_{letter}_1000002 - A03 spoof"])
    return root


def test_asvspoof2019_la(tmp_path: Path) -> None:
    root = asv19_replica(tmp_path / "LA")
    manifest = validate_manifest(load_corpus("asv19la", root).manifest, "asv19")
    assert sorted(manifest["Proportion"].unique()) == ["test", "train", "valid"]
    spoof = by_id(manifest, "ASV19LA-LA_D_1000002")
    assert (spoof["Label"], spoof["Attack"], spoof["Speaker"], spoof["Proportion"], spoof["AudioEncoding"]) == \
        ("fake", "A03", "LA_0080", "valid", "PCM_16")
    assert spoof["Path"] == "ASVspoof2019_LA_dev/flac/LA_D_1000002.flac"
    dev = load_corpus("asv19la", root, parts=("dev",)).manifest
    assert set(dev["Proportion"]) == {"valid"} and len(dev) == 2
    with pytest.raises(ValueError, match=r"parts \['test'\]: expected a non-empty subset"):
        load_corpus("asv19la", root, parts=("test",))
    write_lines(root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.dev.trl.txt",
                ["LA_0079 LA_D_1000001 - - bonafide", "LA_0080 LA_D_1000002 A03 spoof"])
    with pytest.raises(CorpusError, match=r"dev\.trl\.txt:2: expected 'SPEAKER FILE - ATTACK bonafide\|spoof', got 4"):
        load_corpus("asv19la", root, parts=("dev",))


def test_registry(tmp_path: Path) -> None:
    assert set(LOADERS) == {"dfe24", "add23", "for", "dv", "itw", "asv19la"}
    with pytest.raises(KeyError, match="known corpora"):
        get_loader("asvspoof5")
    with pytest.raises(CorpusError, match="corpus root is not a folder"):
        load_corpus("itw", tmp_path / "nowhere")
