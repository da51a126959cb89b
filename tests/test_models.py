"""Detector, checkpoints, SSL pre-training and the feature cache, on tiny models (CPU, seconds)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from deepfake_rl.data.dataset import WaveformDataset, collate_padded
from deepfake_rl.data.store import Segment, write_store
from deepfake_rl.models import (DEFAULT_MODELS, FAKE, REAL, CheckpointError, Detector, FeatureDataset, ModelSpec,
                                build_pretraining_model, load_detector, load_frontend_into, pretrain_frontend,
                                pretrained_frontend_state, read_checkpoint_metadata, real_probability,
                                save_detector, save_frontend, write_feature_cache)
from deepfake_rl.models.detector import masked_mean, normalise_waveform
from deepfake_rl.scoring import length_batches, score_dataset

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
        "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
        "num_codevector_groups": 2, "num_codevectors_per_group": 16, "codevector_dim": 16,
        "proj_codevector_dim": 16, "num_negatives": 10}
FREEZE_MODES = ["none", "cnn", "layers:0", "layers:1", "layers:2"]
# Lengths exercise padding, a clip shorter than the 400-sample receptive field, and odd sizes.
LENGTHS = [16000, 9137, 300, 4001]


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return ModelSpec.from_config("tiny", TINY)


def harmonic(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Structured, speech-like audio: a gliding harmonic tone with a syllable-rate envelope."""
    t = np.arange(samples) / 16000
    f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 5) * t) ** 2
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) * envelope
    return (wave + 0.01 * rng.standard_normal(samples)).astype(np.float32)


def make_store(path: Path, lengths: list[int], labels: list[int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    segments = [Segment(harmonic(rng, n), f"seg{i}", f"src{i}", label, "-" if label else "world", "spk", "en", 0.0)
                for i, (n, label) in enumerate(zip(lengths, labels))]
    write_store(path, segments, {"segmentation": "test"})
    return path


def waveform_batch(lengths: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return collate_padded([(torch.from_numpy(harmonic(rng, n)), 1, i) for i, n in enumerate(lengths)])


def logits(detector: Detector, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return detector(batch["inputs"], batch["lengths"]).logits


# --- spec ------------------------------------------------------------------------------------------

def test_default_models_are_three_stand_ins_of_decreasing_size() -> None:
    specs = [ModelSpec.from_config(key, cfg) for key, cfg in DEFAULT_MODELS.items()]
    assert [s.key for s in specs] == ["xlsr_2b", "mms_1b", "mms_300m"]
    sizes = [sum(p.numel() for p in Detector(s).parameters()) for s in specs]
    assert sizes[0] > sizes[1] > sizes[2]
    config = specs[0].to_wav2vec2_config()
    assert config.do_stable_layer_norm and config.feat_extract_norm == "layer"
    assert specs[0].receptive_field == 400 and specs[0].frame_hop == 320


def test_spec_round_trip_and_errors(spec: ModelSpec) -> None:
    fields = spec.to_dict()
    assert ModelSpec.from_config(fields.pop("key"), fields) == spec
    with pytest.raises(ValueError, match="unknown keys.*hidden_sise"):
        ModelSpec.from_config("bad", {**TINY, "hidden_sise": 3})
    with pytest.raises(ValueError, match="num_heads"):
        ModelSpec.from_config("bad", {**TINY, "num_heads": 3})
    with pytest.raises(ValueError, match="freeze 'layers:9'"):
        Detector(spec, freeze="layers:9")


# --- detector --------------------------------------------------------------------------------------

def test_shapes_and_label_convention(spec: ModelSpec) -> None:
    detector = Detector(spec).eval()
    batch = waveform_batch(LENGTHS)
    with torch.no_grad():
        output = detector(batch["inputs"], batch["lengths"])
        assert output.logits.shape == (len(LENGTHS), 2) and output.pooled.shape == (len(LENGTHS), spec.hidden_size)
        detector.head.weight.zero_()
        detector.head.bias.copy_(torch.tensor([0.0, 6.0]))
        assert (real_probability(detector(batch["inputs"], batch["lengths"]).logits) > 0.99).all()
        detector.head.bias.copy_(torch.tensor([6.0, 0.0]))
        fake_logits = detector(batch["inputs"], batch["lengths"]).logits
    assert (torch.softmax(fake_logits, dim=-1)[:, FAKE] > 0.99).all()
    assert (real_probability(fake_logits) < 0.01).all()
    assert (FAKE, REAL) == (0, 1)


def test_waveform_normalisation_ignores_padding() -> None:
    wave = torch.randn(1, 1000) * 3 + 2
    padded = torch.cat([wave, torch.full((1, 500), 7.0)], dim=1)
    expected = torch.nn.functional.layer_norm(wave, wave.shape)
    normalised = normalise_waveform(padded, torch.tensor([1000]))
    torch.testing.assert_close(normalised[:, :1000], expected, atol=1e-5, rtol=0)
    assert normalised[:, 1000:].abs().max() == 0


@pytest.mark.parametrize("freeze", ["none", "layers:1"])
def test_padding_does_not_change_a_sequence(spec: ModelSpec, freeze: str) -> None:
    detector = Detector(spec, freeze=freeze).eval()
    batch = waveform_batch(LENGTHS)
    batched = logits(detector, batch)
    for row, length in enumerate(LENGTHS):
        alone = logits(detector, {"inputs": batch["inputs"][row:row + 1, :length],
                                  "lengths": torch.tensor([length])})
        torch.testing.assert_close(batched[row:row + 1], alone, atol=1e-5, rtol=0)


def test_front_end_mirrors_transformers_forward(spec: ModelSpec) -> None:
    """Our staged forward equals Wav2Vec2Model.forward with an attention mask (clips >= 400 samples)."""
    detector = Detector(spec).eval()
    batch = waveform_batch([16000, 9137, 4001])
    wave = normalise_waveform(batch["inputs"], batch["lengths"])
    mask = (torch.arange(wave.shape[1])[None] < batch["lengths"][:, None]).long()
    with torch.no_grad():
        hidden = detector.frontend(wave, attention_mask=mask).last_hidden_state
        frames = detector.frontend._get_feat_extract_output_lengths(batch["lengths"])
        expected = detector.head(masked_mean(hidden, frames))
    torch.testing.assert_close(logits(detector, batch), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("freeze", FREEZE_MODES)
def test_prefix_suffix_equals_forward(spec: ModelSpec, freeze: str) -> None:
    reference = Detector(spec, freeze="none", seed=3).eval()
    detector = Detector(spec, freeze=freeze, seed=3).eval()
    batch = waveform_batch(LENGTHS)
    with torch.no_grad():
        split = detector.suffix(*detector.prefix(batch["inputs"], batch["lengths"])).logits
    torch.testing.assert_close(split, logits(detector, batch), atol=1e-5, rtol=0)
    torch.testing.assert_close(split, logits(reference, batch), atol=1e-5, rtol=0)


@pytest.mark.parametrize("freeze", FREEZE_MODES)
def test_frozen_parameters_get_no_gradient(spec: ModelSpec, freeze: str) -> None:
    detector = Detector(spec, freeze=freeze).train()
    batch = waveform_batch(LENGTHS[:2])
    detector(batch["inputs"], batch["lengths"]).logits.sum().backward()
    trainable = {id(p) for p in detector.trainable_parameters()}
    for name, parameter in detector.named_parameters():
        if id(parameter) in trainable:
            assert parameter.requires_grad
        else:
            assert not parameter.requires_grad and parameter.grad is None, name
    assert detector.head.weight.grad is not None
    assert all(not module.training for module in detector.frozen_modules())
    expected_frozen = {"none": 0, "cnn": 1, "layers:0": 4, "layers:1": 5, "layers:2": 6}[freeze]
    assert len(detector.frozen_modules()) == expected_frozen


# --- checkpoints -----------------------------------------------------------------------------------

def test_checkpoint_round_trip(spec: ModelSpec, tmp_path: Path) -> None:
    detector = Detector(spec, freeze="layers:1", seed=5).eval()
    with torch.no_grad():
        detector.head.bias.add_(0.3)  # differ from a freshly seeded detector
    path = tmp_path / "ckpt" / "detector.safetensors"
    save_detector(detector, path, {"method": "sft", "seed": 5})
    loaded = load_detector(path).eval()
    assert loaded.freeze == "layers:1" and loaded.spec == spec and loaded.source_checkpoint == str(path)
    assert read_checkpoint_metadata(path) == {"method": "sft", "seed": 5}
    batch = waveform_batch(LENGTHS)
    assert torch.equal(logits(loaded, batch), logits(detector, batch))
    assert load_detector(path, freeze="cnn").freeze == "cnn"
    assert [p.name for p in tmp_path.joinpath("ckpt").iterdir()] == ["detector.safetensors"]


class _Exploit:
    """Unpickling this would create a marker file: a loader that unpickles is caught."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def test_loading_refuses_pickles_and_missing_files(spec: ModelSpec, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    evil = tmp_path / "model.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": _Exploit(marker)}))
    for loader in (load_detector, lambda path: load_frontend_into(Detector(spec), path)):
        with pytest.raises(CheckpointError, match=r"model\.ckpt.*safetensors"):
            loader(evil)
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_detector(tmp_path / "missing.safetensors")
    frontend = tmp_path / "frontend.safetensors"
    save_frontend(Detector(spec).frontend.state_dict(), frontend, spec)
    with pytest.raises(CheckpointError, match="expected a deepfake_rl detector"):
        load_detector(frontend)


@pytest.mark.parametrize("problem", ["missing", "pickle"])
def test_a_bad_checkpoint_stops_a_job_with_one_line_naming_it(tmp_path: Path, problem: str, monkeypatch) -> None:
    """Missing or unreadable checkpoints are data errors: the job's log and exit name the file, no traceback."""
    import os
    from types import SimpleNamespace

    from deepfake_rl import workflow

    monkeypatch.setattr(os, "environ", dict(os.environ))              # the job's pins stay in this test
    monkeypatch.setattr(workflow, "limit_threads", lambda threads: None)

    checkpoint = tmp_path / "runs" / "seed1" / "model.safetensors"
    if problem == "pickle":
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(pickle.dumps({"state_dict": {}}))
    log = tmp_path / "score.log"
    job = SimpleNamespace(
        rule="score", threads=1, log=[str(log)], config={},
        input=SimpleNamespace(checkpoints=[str(checkpoint)], data=[str(tmp_path / "features.h5")]),
        output=SimpleNamespace(scores=[str(tmp_path / "set.csv")], embeddings=[str(tmp_path / "embeddings.h5")]),
        params=SimpleNamespace(freeze="none", batch_size=4, device="cpu"))
    with pytest.raises(SystemExit) as exit_:
        workflow.run_stage(job)
    expected = {"missing": "checkpoint not found", "pickle": "not a readable safetensors checkpoint"}[problem]
    assert str(exit_.value.code).startswith(f"score: {checkpoint}: {expected}")
    text = log.read_text(encoding="utf-8")
    assert f"score: {checkpoint}: {expected}" in text and "Traceback" not in text
    assert not (tmp_path / "set.csv").exists()


def test_pretrained_frontend_loads_strictly_with_a_new_seeded_head(spec: ModelSpec, tmp_path: Path) -> None:
    model = build_pretraining_model(spec, seed=11)
    state = pretrained_frontend_state(model)
    detector = Detector(spec, seed=2)
    assert set(state) == set(detector.frontend.state_dict())
    path = tmp_path / "frontend.safetensors"
    save_frontend(state, path, spec, {"loss": 1.5})
    assert load_frontend_into(detector, path) == {"loss": 1.5}
    for name, tensor in detector.frontend.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    assert torch.equal(detector.head.weight, Detector(spec, seed=2).head.weight)
    bigger = ModelSpec.from_config("bigger", {**TINY, "num_layers": 3})
    with pytest.raises(CheckpointError, match="does not fit"):
        load_frontend_into(Detector(bigger), path)


# --- pre-training ----------------------------------------------------------------------------------

def test_pretraining_loss_decreases_and_is_deterministic(spec: ModelSpec, tmp_path: Path) -> None:
    lengths = [int(n) for n in np.random.default_rng(1).integers(16000, 48000, size=12)]
    store = WaveformDataset(make_store(tmp_path / "real.h5", lengths + [16000], [1] * 12 + [0]))
    settings = {"batch_size": 4, "lr": 2e-3, "crop_seconds": 1.0, "seed": 7, "progress": False}
    model = build_pretraining_model(spec, seed=7)
    result = pretrain_frontend(spec, store, steps=40, model=model, **settings)
    assert result["contrastive_loss"] < result["initial_contrastive_loss"]
    assert np.isfinite(result["loss"]) and result["steps"] == 40
    assert not torch.equal(pretrained_frontend_state(model)["feature_projection.projection.weight"],
                           pretrained_frontend_state(build_pretraining_model(spec, seed=7))[
                               "feature_projection.projection.weight"])
    first, second = (pretrain_frontend(spec, store, steps=3, **settings) for _ in range(2))
    assert first["loss"] == second["loss"]


def test_pretraining_refuses_a_store_without_real_speech(spec: ModelSpec, tmp_path: Path) -> None:
    store = WaveformDataset(make_store(tmp_path / "fake.h5", [16000, 16000], [0, 0]))
    with pytest.raises(ValueError, match="no real clip"):
        pretrain_frontend(spec, store, steps=1, batch_size=2, lr=1e-3, crop_seconds=1.0, seed=0, progress=False)


# --- feature cache ---------------------------------------------------------------------------------

@pytest.mark.parametrize("freeze", ["cnn", "layers:1"])
def test_feature_cache_matches_waveform_path(spec: ModelSpec, freeze: str, tmp_path: Path) -> None:
    store = make_store(tmp_path / "store.h5", LENGTHS + [12000, 350], [1, 0, 1, 0, 0, 1])
    detector = Detector(spec, freeze=freeze, seed=4)
    cache = tmp_path / "cache.h5"
    assert write_feature_cache(detector, store, cache, batch_size=4, progress=False, source_checkpoint="x") == 6
    assert detector.training  # the caller's mode is restored
    features = FeatureDataset(cache)
    features.check_compatible(detector)
    assert features.attrs["source_checkpoint"] == "x" and features.ids[0] == "seg0"
    cached = collate_padded([features[i] for i in range(len(features))])
    waves = collate_padded([WaveformDataset(store)[i] for i in range(len(features))])
    assert torch.equal(cached["label"], waves["label"])
    detector.eval()
    with torch.no_grad():
        from_cache = detector.suffix(cached["inputs"], cached["lengths"]).logits
    torch.testing.assert_close(from_cache, logits(detector, waves), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="cache made for"):
        features.check_compatible(Detector(spec, freeze="layers:2"))


def test_bounded_batches_give_the_same_features_and_scores(spec: ModelSpec, tmp_path: Path) -> None:
    """A padded-size bound changes which clips share a batch, not the outputs (padding is masked): the
    feature cache and the scores with the bound equal those without it up to float rounding."""
    lengths = [16000, 900, 1200, 48000, 700, 8000]
    store = make_store(tmp_path / "store.h5", lengths, [1, 0, 1, 0, 0, 1])
    detector = Detector(spec, freeze="layers:1", seed=4)
    plain, bounded = tmp_path / "plain.h5", tmp_path / "bounded.h5"
    write_feature_cache(detector, store, plain, batch_size=6, progress=False)
    write_feature_cache(detector, store, bounded, batch_size=6, progress=False, max_batch_samples=16000)
    for index in range(len(lengths)):
        torch.testing.assert_close(FeatureDataset(bounded)[index][0], FeatureDataset(plain)[index][0],
                                   atol=1e-5, rtol=0)
    frames_bound = 16000 // spec.frame_hop
    one = score_dataset(detector, FeatureDataset(plain), inputs_are_features=True, batch_size=6, progress=False)
    two = score_dataset(detector, FeatureDataset(plain), inputs_are_features=True, batch_size=6, progress=False,
                        max_padded=frames_bound)
    np.testing.assert_allclose(two.logits, one.logits, atol=1e-5, rtol=0)
    np.testing.assert_allclose(two.embeddings, one.embeddings, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(two.labels, one.labels)


def test_length_batches_bound_padded_size() -> None:
    """Sorted by length; at most batch_size items and items x longest <= the bound; a longer item alone."""
    lengths = np.array([50, 10, 400, 12, 11, 30, 31, 9])
    batches = length_batches(lengths, 3, max_padded=64)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert [lengths[b].tolist() for b in batches] == [[9, 10, 11], [12, 30], [31], [50], [400]]
    assert [len(b) for b in length_batches(lengths, 3)] == [3, 3, 2]    # no bound: batch_size only


def test_feature_cache_refuses_freeze_none(spec: ModelSpec, tmp_path: Path) -> None:
    store = make_store(tmp_path / "store.h5", [8000], [1])
    with pytest.raises(ValueError, match="no frozen prefix"):
        write_feature_cache(Detector(spec), store, tmp_path / "cache.h5", batch_size=2, progress=False)
    assert not (tmp_path / "cache.h5").exists()


def test_negative_freeze_keeps_the_last_layers_trainable(spec):
    assert Detector(spec, freeze="layers:-1").freeze == f"layers:{spec.num_layers - 1}"
    assert Detector(spec, freeze=f"layers:-{spec.num_layers}").freeze == "layers:0"
    with pytest.raises(ValueError, match="layers:-9"):
        Detector(spec, freeze="layers:-9")
