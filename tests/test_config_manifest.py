"""Config schema errors are readable; manifests are validated with the line of the problem."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfake_rl.config import ConfigError, load_config, validate_config
from deepfake_rl.data.audio_io import AudioError, load_audio
from deepfake_rl.data.manifest import COLUMNS, ManifestError, read_manifest


def test_default_config_is_valid(repo):
    config = load_config(repo / "config" / "config.yaml")
    assert config["corpus"]["size"] == "default"


def test_bad_enum_names_the_key_and_the_allowed_values(default_config):
    default_config["corpus"]["size"] = "huge"
    with pytest.raises(ConfigError) as error:
        validate_config(default_config)
    assert "corpus.size: 'huge' is not one of ['tiny', 'default']" in str(error.value)


def test_misspelt_key_and_unknown_references_are_reported(default_config):
    default_config["corpus"]["sedd"] = 1
    with pytest.raises(ConfigError, match="corpus: Additional properties.*'sedd'"):
        validate_config(default_config)
    del default_config["corpus"]["sedd"]
    default_config["datasets"]["dfe24_4s"]["domain"] = "nowhere"
    default_config["corpus"]["domains"]["pool"]["attacks"].append("wavenet")
    default_config["test_sets"]["out_of_domain"]["asv21"] = "ASV21"
    with pytest.raises(ConfigError) as error:
        validate_config(default_config)
    message = str(error.value)
    assert "datasets.dfe24_4s.domain: unknown domain 'nowhere'" in message
    assert "corpus.domains.pool.attacks: unknown attack 'wavenet'" in message
    assert "test_sets.out_of_domain.asv21: not a dataset" in message


def test_negative_segment_length_is_rejected(default_config):
    default_config["datasets"]["dfe24_4s"]["max_seconds"] = -4
    with pytest.raises(ConfigError, match="datasets.dfe24_4s.max_seconds"):
        validate_config(default_config)


def test_snakemake_validate_accepts_the_default_config(default_config):
    from snakemake.utils import validate

    from deepfake_rl.config import SCHEMA_PATH

    validate(default_config, str(SCHEMA_PATH))
    default_config["sample_rate"] = 22050
    with pytest.raises(Exception, match="22050"):
        validate(default_config, str(SCHEMA_PATH))


def _manifest_row(**overrides):
    row = {"ID": "a", "Label": "real", "Duration": 1.0, "SampleRate": 16000, "Path": "audio/a.wav",
           "Attack": "-", "Speaker": "s", "Proportion": "test", "AudioChannel": 1,
           "AudioEncoding": "PCM_16", "AudioBitSample": 16, "Language": "en"}
    row.update(overrides)
    return row


@pytest.mark.parametrize("override, message", [
    ({"Label": "spoof"}, "line 3: Label 'spoof' is not one of"),
    ({"Proportion": "dev"}, "line 3: Proportion 'dev'"),
    ({"ID": "a"}, "line 3: duplicate ID 'a'"),
    ({"Duration": 0}, "line 3: Duration"),
    ({"Path": "../../etc/passwd"}, "line 3: Path '../../etc/passwd' must stay under the corpus root"),
])
def test_manifest_errors_name_the_line(tmp_path, override, message):
    frame = pd.DataFrame([_manifest_row(), _manifest_row(ID="b", **{k: v for k, v in override.items() if k != "ID"})
                          if "ID" not in override else _manifest_row(**override)])
    path = tmp_path / "manifest.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        read_manifest(path)


def test_manifest_missing_column(tmp_path):
    path = tmp_path / "manifest.csv"
    pd.DataFrame([_manifest_row()]).drop(columns=["Label"]).to_csv(path, index=False)
    with pytest.raises(ManifestError, match=r"missing columns \['Label'\]"):
        read_manifest(path)
    assert "Label" in COLUMNS


def test_audio_errors_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="missing.wav: audio file not found"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="junk.wav: unreadable audio"):
        load_audio(tmp_path / "junk.wav")
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "silent.wav", np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="silent.wav: audio is silent"):
        load_audio(tmp_path / "silent.wav")


def test_load_audio_resamples_and_mixes_down(tmp_path):
    import numpy as np
    import soundfile as sf

    t = np.arange(48000) / 48000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1).astype(np.float32) * 0.5
    sf.write(tmp_path / "stereo48k.wav", stereo, 48000)
    wave = load_audio(tmp_path / "stereo48k.wav")
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 16000) <= 1
