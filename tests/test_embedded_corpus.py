"""The embedded corpus at tiny size: counts, labels, sample rate, durations, no label shortcut,
disjoint domains, determinism."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import pytest
import soundfile as sf

from deepfake_rl.__main__ import main
from deepfake_rl.data.content_hash import combined_hash, domain_hash, read_domain_hash
from deepfake_rl.data.embedded.build import build_domain, plan_clips, split_counts
from deepfake_rl.data.manifest import read_manifest


@pytest.fixture(scope="module")
def tiny_domains(tmp_path_factory, request):
    import yaml

    from tests.conftest import REPO

    config = yaml.safe_load(open(REPO / "config" / "config.yaml"))
    root = tmp_path_factory.mktemp("corpus")
    built = {}
    for domain in ("pool", "dfe24"):
        build_domain(domain, config["corpus"]["domains"][domain], size="tiny", seed=7, output_dir=root / domain)
        built[domain] = root / domain
    return config, built


def test_manifests_have_paired_balanced_classes_at_16k(tiny_domains):
    config, built = tiny_domains
    for domain, folder in built.items():
        manifest = read_manifest(folder / "manifest.csv")
        n_real = config["corpus"]["domains"][domain]["n_real"]["tiny"]
        assert (manifest["Label"] == "real").sum() == n_real
        assert (manifest["Label"] == "fake").sum() == n_real
        assert set(manifest.loc[manifest.Label == "real", "Attack"]) == {"-"}
        assert set(manifest.loc[manifest.Label == "fake", "Attack"]) <= set(config["corpus"]["domains"][domain]["attacks"])
        for row in manifest.itertuples():
            info = sf.info(folder / row.Path)
            assert (info.samplerate, info.channels) == (16000, 1)
            assert info.duration == pytest.approx(row.Duration, abs=1e-3)


def test_no_sample_rate_or_duration_shortcut(tiny_domains):
    _, built = tiny_domains
    for domain, folder in built.items():
        manifest = read_manifest(folder / "manifest.csv")
        by_class = manifest.groupby("Label")
        assert by_class["SampleRate"].mean().nunique() == 1
        mean = by_class["Duration"].mean()
        assert abs(mean["real"] - mean["fake"]) / mean["real"] < 0.35, (domain, mean.to_dict())
        levels = {label: np.mean([np.sqrt(np.mean(sf.read(folder / p)[0] ** 2)) for p in group.Path])
                  for label, group in by_class}
        assert 0.5 < levels["real"] / levels["fake"] < 2.0, (domain, levels)


def test_dfe24_recordings_are_long_and_split_three_ways(tiny_domains):
    config, built = tiny_domains
    manifest = read_manifest(built["dfe24"] / "manifest.csv")
    low, _ = config["corpus"]["domains"]["dfe24"]["long_recordings"]["seconds"]["tiny"]
    # planned on the prompts' file durations; trimming their leading and trailing silence shortens them
    assert manifest.loc[manifest.Label == "real", "Duration"].min() >= 0.75 * low
    assert set(manifest["Proportion"]) == {"train", "valid", "test"}


def test_domains_draw_disjoint_prompts(default_config):
    domains = default_config["corpus"]["domains"]
    used = {}
    for name in ("pool", "dfe24", "asv19dev"):
        clips = plan_clips(domains[name], "default", default_config["corpus"]["seed"], name)
        used[name] = {p.prompt_id for clip in clips for p in clip.prompts}
        assert used[name]
    assert not used["pool"] & used["dfe24"]
    assert not used["pool"] & used["asv19dev"]
    assert not used["dfe24"] & used["asv19dev"]


def test_long_recording_parts_do_not_share_prompts(default_config):
    clips = plan_clips(default_config["corpus"]["domains"]["dfe24"], "default", 1, "dfe24")
    parts = {}
    for clip in clips:
        parts.setdefault(clip.proportion, set()).update(p.prompt_id for p in clip.prompts)
    assert not parts["train"] & parts["test"] and not parts["valid"] & parts["test"]


def test_split_counts():
    assert split_counts(10, {"train": 0.8, "valid": 0.1, "test": 0.1}) == {"train": 8, "valid": 1, "test": 1}
    assert split_counts(3, {"train": 0.5, "valid": 0.15, "test": 0.35}) == {"train": 1, "valid": 1, "test": 1}
    assert split_counts(7, {"test": 1.0}) == {"test": 7}


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_is_deterministic_for_a_seed(tmp_path, default_config):
    recipe = copy.deepcopy(default_config["corpus"]["domains"]["add23"])
    recipe["n_real"]["tiny"] = 2
    build_domain("add23", recipe, size="tiny", seed=3, output_dir=tmp_path / "a")
    build_domain("add23", recipe, size="tiny", seed=3, output_dir=tmp_path / "b", workers=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")   # nor on the number of worker processes
    assert not (tmp_path / "a.partial").exists()


def test_long_recordings_keep_one_speaker_and_use_every_language(default_config):
    clips = plan_clips(default_config["corpus"]["domains"]["dfe24"], "default", default_config["corpus"]["seed"], "dfe24")
    assert all(len({p.speaker for p in clip.prompts}) == 1 for clip in clips)
    test_languages = {clip.prompts[0].language for clip in clips if clip.proportion == "test"}
    assert test_languages == {source["speaker"] for source in default_config["corpus"]["domains"]["dfe24"]["sources"]}


def test_content_hash_is_recorded_and_covers_the_audio(tiny_domains, tmp_path):
    _, built = tiny_domains
    recorded = {domain: read_domain_hash(folder) for domain, folder in built.items()}
    assert recorded == {domain: domain_hash(folder) for domain, folder in built.items()}
    copy_ = tmp_path / "pool"
    import shutil

    shutil.copytree(built["pool"], copy_)
    wav = sorted((copy_ / "audio").glob("*.wav"))[0]
    data = bytearray(wav.read_bytes())
    data[-1] ^= 1   # one bit of one sample
    wav.write_bytes(bytes(data))
    assert domain_hash(copy_) != recorded["pool"]
    assert combined_hash(recorded) == combined_hash(dict(reversed(recorded.items())))


def test_corpus_summary_prints_and_checks_the_corpus_hash(tiny_domains, capsys):
    _, built = tiny_domains
    root = str(built["pool"].parent)
    assert main(["corpus-summary", root]) == 0
    expected = combined_hash({domain: read_domain_hash(folder) for domain, folder in built.items()})
    out = capsys.readouterr().out
    assert f"corpus sha256: {expected}" in out and read_domain_hash(built["dfe24"]) in out
    assert main(["corpus-summary", root, "--expect", expected]) == 0
    assert main(["corpus-summary", root, "--expect", "0" * 64]) == 1
    assert "differs" in capsys.readouterr().err
