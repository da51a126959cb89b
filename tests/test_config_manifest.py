"""Config schema errors are readable; manifests are validated with the line of the problem."""

from __future__ import annotations

import pandas as pd
import pytest

from deepfake_rl.config import ConfigError, base_init, family_keys, load_config, method_settings, validate_config
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


def test_method_settings_layer_schedule_family_and_entry(default_config):
    grpo = method_settings(default_config, "grpo")
    assert grpo["beta"] == default_config["grpo"]["beta"] == 0.04 and grpo["group_size"] == 64
    assert grpo["lr"] == default_config["finetune"]["lr"] and grpo["init"] == "posttrained"
    assert grpo["reference"] == "init"
    assert method_settings(default_config, "grpo_beta1")["beta"] == 1.0           # the entry wins
    sft = method_settings(default_config, "sft")
    assert "beta" not in sft and sft["loss"] == "sft"                            # no foreign family keys
    assert method_settings(default_config, "none") == {"init": "posttrained", "loss": "none"}
    sft_grpo = method_settings(default_config, "sft_grpo")
    assert (sft_grpo["init"], sft_grpo["reference"]) == ("sft", "posttrained")
    assert base_init(default_config, "sft_grpo") == "posttrained"
    assert base_init(default_config, "pre_grpo") == "pretrained"


def test_changing_grpo_beta_changes_the_settings_of_the_methods_that_use_it_only(default_config):
    before = {name: method_settings(default_config, name) for name in default_config["methods"]}
    default_config["grpo"]["beta"] = 0.5
    changed = {name for name in before if method_settings(default_config, name) != before[name]}
    assert changed == {"grpo", "grpo_s", "sft_grpo", "sft_grpo_s", "grpo_noneg", "pre_grpo_s", "pre_grpo",
                       "grpo_exact"}


@pytest.mark.parametrize("key, value", [("epsilon", 0.3), ("old_refresh_steps", 7)])
def test_grpo_noneg_as_eq11_does_not_rerun_for_clip_or_old_policy_keys(default_config, key, value):
    """Eq. 11 has no ratio: editing the clip or the old-policy refresh reruns the ratio-based GRPO
    methods, not GRPO w/o neg. (unless it asks for the clipped-ratio form, which uses both)."""
    before = {name: method_settings(default_config, name) for name in default_config["methods"]}
    assert key not in before["grpo_noneg"]
    default_config["grpo"][key] = value
    changed = {name for name in before if method_settings(default_config, name) != before[name]}
    assert "grpo" in changed and "grpo_noneg" not in changed
    default_config["methods"]["grpo_noneg"]["noneg_form"] = "clipped_ratio"
    assert method_settings(default_config, "grpo_noneg")[key] == value


def test_grpo_schema_and_settings_class_list_the_same_keys():
    import dataclasses

    from deepfake_rl.methods.grpo import GRPOSettings

    from deepfake_rl.methods.tsrl import TSRLSettings

    assert family_keys("grpo") == {field.name for field in dataclasses.fields(GRPOSettings)}
    assert family_keys("tsrl") == {field.name for field in dataclasses.fields(TSRLSettings)}
    assert family_keys("sft") == set()


@pytest.mark.parametrize(("method", "entry", "message"), [
    ("sft_beta", {"loss": "sft", "beta": 0.1}, r"methods.sft_beta: \['beta'\] are not settings of the 'sft' family"),
    ("grpo_typo", {"loss": "grpo", "betta": 0.1}, r"methods.grpo_typo: Unevaluated properties.*'betta'"),
    ("grpo_bad", {"loss": "grpo", "advantage_norm": "global"}, r"methods.grpo_bad.advantage_norm: 'global' is not one"),
    ("loop_a", {"loss": "grpo", "init": "loop_b"}, r"methods.loop_a.init: cycle loop_a -> loop_b -> loop_a"),
    ("orphan", {"loss": "grpo", "init": "nothing"}, r"methods.orphan.init: 'nothing' is neither posttrained"),
    ("from_none", {"loss": "grpo", "init": "none"}, r"methods.from_none.init: 'none' is not trained"),
])
def test_method_entries_are_checked(default_config, method, entry, message):
    default_config["methods"][method] = entry
    default_config["methods"]["loop_b"] = {"loss": "sft", "init": "loop_a"}
    with pytest.raises(ConfigError, match=message):
        validate_config(default_config)


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
