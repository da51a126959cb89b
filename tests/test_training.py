"""The training loop, the model stages in-process (pretrained front end -> post-training -> feature
cache -> fine-tuning -> scoring -> Table 1), and the table layout."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from deepfake_rl import stages
from deepfake_rl.data.dataset import WaveformDataset
from deepfake_rl.data.store import Segment, write_store
from deepfake_rl.methods.sft import SFT
from deepfake_rl.models import Detector, ModelSpec, build_pretraining_model, load_detector, pretrained_frontend_state, save_frontend
from deepfake_rl.tables import PAPER_ROWS, make_table1, table1
from deepfake_rl.train.loop import TrainSettings, train
from tests.test_models import TINY, harmonic

TEST_SETS = {"in_domain": {"dfe24_4s": "DFE24 4s"}, "out_of_domain": {"add23": "ADD23", "for": "FoR"}}


def noisy(rng: np.random.Generator, samples: int) -> np.ndarray:
    return (0.3 * rng.standard_normal(samples)).astype(np.float32)


def labelled_store(path, n: int, seed: int):
    """Real = harmonic tones, fake = noise bursts: separable, so training must lower the loss."""
    rng = np.random.default_rng(seed)
    segments = []
    for i in range(n):
        label = i % 2
        samples = int(rng.integers(6000, 12000))
        wave = harmonic(rng, samples) if label else noisy(rng, samples)
        segments.append(Segment(wave, f"u{i}", f"u{i}", label, "-" if label else "noise", "s", "en", 0.0))
    write_store(path, segments, {})
    return path


@pytest.fixture(scope="module")
def model_cfg():
    return {"label": "Tiny", **TINY}


def test_two_step_fine_tune_logs_each_step_and_keeps_the_best_state(tmp_path, model_cfg):
    spec = ModelSpec.from_config("tiny", model_cfg)
    train_store = labelled_store(tmp_path / "train.h5", 8, 0)
    valid_store = labelled_store(tmp_path / "valid.h5", 6, 1)
    detector = Detector(spec, freeze="layers:1", seed=0)
    frozen_before = {k: v.clone() for k, v in detector.frontend.feature_extractor.state_dict().items()}
    settings = TrainSettings(lr=1e-3, epochs=1, batch_size=4, max_steps=2, seed=3)
    result = train(detector, SFT(), WaveformDataset(train_store), WaveformDataset(valid_store), settings,
                   inputs_are_features=False, log_path=tmp_path / "log.csv", progress=False)
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log["step"]) == [1, 2] and result.steps == 2
    assert np.isfinite(log["loss"]).all() and not math.isnan(log["valid_eer"].iloc[-1])
    assert 0.0 <= result.best_eer <= 1.0
    for key, value in detector.frontend.feature_extractor.state_dict().items():
        assert torch.equal(value, frozen_before[key]), f"frozen {key} changed"


@pytest.mark.parametrize("keep, kept_step, kept_eer", [("best", 2, 0.2), ("final", 4, 0.3)])
def test_keep_names_the_state_returned_and_a_tie_keeps_the_earliest(tmp_path, model_cfg, monkeypatch, keep,
                                                                     kept_step, kept_eer):
    """Validation EERs 0.4, 0.2, 0.2 at steps 1-3 and 0.3 at the end (step 4): keep best holds step 2's state
    (the earlier of the tie), keep final step 4's; both report the best seen (0.2 at step 2)."""
    states: dict[int, dict[str, torch.Tensor]] = {}
    scripted = iter([0.4, 0.2, 0.2, 0.3])

    def validation_eer(detector, *_):
        states[len(states) + 1] = {k: v.clone() for k, v in detector.state_dict().items()}
        return next(scripted)

    monkeypatch.setattr("deepfake_rl.train.loop.validation_eer", validation_eer)
    store = labelled_store(tmp_path / "train.h5", 8, 0)
    detector = Detector(ModelSpec.from_config("tiny", model_cfg), freeze="cnn", seed=0)
    result = train(detector, SFT(), WaveformDataset(store), WaveformDataset(store),
                   TrainSettings(lr=1e-2, epochs=4, batch_size=4, max_steps=4, valid_every=1, seed=5, keep=keep),
                   inputs_are_features=False, progress=False)
    assert (result.kept_step, result.kept_eer, result.best_step, result.best_eer) == (kept_step, kept_eer, 2, 0.2)
    assert result.metadata()["kept_step"] == kept_step
    assert all(torch.equal(value, states[kept_step][key]) for key, value in detector.state_dict().items())
    assert not all(torch.equal(states[2][key], states[4][key]) for key in states[2])   # the states differ
    with pytest.raises(ValueError, match="keep 'last'"):
        TrainSettings(lr=1e-3, epochs=1, batch_size=4, keep="last")


def test_training_is_deterministic_for_a_seed(tmp_path, model_cfg):
    spec = ModelSpec.from_config("tiny", model_cfg)
    store = labelled_store(tmp_path / "train.h5", 8, 0)
    states = []
    for _ in range(2):
        detector = Detector(spec, freeze="cnn", seed=0)
        train(detector, SFT(), WaveformDataset(store), WaveformDataset(store),
              TrainSettings(lr=1e-3, epochs=2, batch_size=4, seed=5, crop=4000), inputs_are_features=False,
              progress=False)
        states.append(detector.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_model_stages_end_to_end_in_process(tmp_path, model_cfg):
    spec = ModelSpec.from_config("tiny", model_cfg)
    pool = labelled_store(tmp_path / "pool.h5", 16, 0)
    valid = labelled_store(tmp_path / "valid.h5", 8, 1)
    tests = {name: labelled_store(tmp_path / f"{name}.h5", 8, seed) for seed, name in enumerate(["dfe24_4s", "add23", "for"], 2)}
    pretrained = tmp_path / "pretrained.safetensors"
    save_frontend(pretrained_frontend_state(build_pretraining_model(spec, 0)), pretrained, spec)
    posttrained = tmp_path / "posttrained.safetensors"
    post = {"freeze": "cnn", "lr": 2e-3, "epochs": 3, "batch_size": 4, "crop_seconds": 0.5, "valid_every": None}
    stages.posttrain("tiny", model_cfg, post, pretrained, pool, valid, posttrained, tmp_path / "post_log.csv")
    finetune = {"freeze": "layers:-1", "batch_size": 4, "crop_seconds": 0.4}
    caches = {}
    for name, store in {"train": pool, "valid": valid, **tests}.items():
        caches[name] = tmp_path / f"cache_{name}.h5"
        stages.feature_cache("tiny", model_cfg, "posttrained", posttrained, finetune["freeze"], [store], [caches[name]])
    method = {"loss": "sft", "init": "posttrained", "lr": 1e-3, "epochs": 1}
    run = tmp_path / "runs" / "tiny" / "sft" / "seed1"
    stages.finetune("tiny", model_cfg, method, finetune, 1, posttrained, caches["train"], caches["valid"],
                    run / "model.safetensors", run / "train_log.csv")
    assert load_detector(run / "model.safetensors").freeze == "layers:1"
    # SFT -> GRPO: starts from the SFT run, KL reference = the post-trained model (not the SFT result)
    two_stage = tmp_path / "runs" / "tiny" / "sft_grpo" / "seed1"
    grpo_cfg = {"loss": "grpo", "init": "sft", "reference": "posttrained", "lr": 1e-3, "epochs": 1, "group_size": 8}
    stages.finetune("tiny", model_cfg, grpo_cfg, finetune, 1, run / "model.safetensors", caches["train"],
                    caches["valid"], two_stage / "model.safetensors", two_stage / "train_log.csv",
                    reference_checkpoint=posttrained)
    log = pd.read_csv(two_stage / "train_log.csv")
    assert {"reward", "kl"} <= set(log.columns) and log["kl"].iloc[0] > 0   # SFT moved away from the reference
    names = list(tests)
    scores = [run / "scores" / f"{n}.csv" for n in names]
    stages.score(run / "model.safetensors", finetune["freeze"], [caches[n] for n in names], scores,
                 [run / "embeddings" / f"{n}.h5" for n in names])
    # a score job's seeds in one pass over each set: the same bytes as each checkpoint scored alone
    alone = [two_stage / "scores" / f"{n}.csv" for n in names]
    stages.score(two_stage / "model.safetensors", finetune["freeze"], [caches[n] for n in names], alone,
                 [two_stage / "embeddings" / f"{n}.h5" for n in names])
    together = [tmp_path / "together" / f"{run_number}_{n}" for run_number in (0, 1) for n in names]
    stages.score_runs([run / "model.safetensors", two_stage / "model.safetensors"], finetune["freeze"],
                      [caches[n] for n in names], [f"{path}.csv" for path in together],
                      [f"{path}.h5" for path in together])
    assert [Path(f"{path}.csv").read_bytes() for path in together] == [path.read_bytes() for path in scores + alone]
    singles = [directory / "embeddings" / f"{n}.h5" for directory in (run, two_stage) for n in names]
    for path, single in zip(together, singles, strict=True):
        with h5py.File(f"{path}.h5") as joint, h5py.File(single) as own:
            assert np.array_equal(joint["embeddings"][()], own["embeddings"][()])
    with pytest.raises(ValueError, match="2 checkpoints x 3 datasets"):
        stages.score_runs([run / "model.safetensors"] * 2, finetune["freeze"], [caches[n] for n in names],
                          [f"{path}.csv" for path in together[:3]], [f"{path}.h5" for path in together[:3]])
    # the cached path scores exactly like the waveform path
    on_waves = tmp_path / "waves.csv"
    stages.score(run / "model.safetensors", "none", [tests["add23"]], [on_waves], [tmp_path / "w.h5"])
    cached = pd.read_csv(run / "scores" / "add23.csv")
    assert np.allclose(cached["score"], pd.read_csv(on_waves)["score"], atol=1e-3)
    assert list(cached.columns) == ["ID", "label", "score", "p_real", "logit_fake", "logit_real"]
    table = table1(scores, TEST_SETS, {"tiny": "Tiny"}, tmp_path / "eer_long.csv", tmp_path / "table1.csv")
    assert list(table.columns)[:5] == ["row", "model", "pretrain", "posttrain", "finetune"]
    assert len(table) == 1 and np.isfinite(table.iloc[0, 5:].to_numpy(dtype=float)).all()


def test_posttrain_seed_draws_another_detector_and_defaults_to_zero(tmp_path, model_cfg):
    spec = ModelSpec.from_config("tiny", model_cfg)
    pool, valid = labelled_store(tmp_path / "pool.h5", 8, 0), labelled_store(tmp_path / "valid.h5", 4, 1)
    pretrained = tmp_path / "pretrained.safetensors"
    save_frontend(pretrained_frontend_state(build_pretraining_model(spec, 0)), pretrained, spec)
    post = {"freeze": "cnn", "lr": 2e-3, "epochs": 1, "batch_size": 4, "crop_seconds": 0.5, "valid_every": None}
    states = {}
    for name, extra in {"default": {}, "seed0": {"seed": 0}, "seed1": {"seed": 1}}.items():
        output = tmp_path / f"{name}.safetensors"
        stages.posttrain("tiny", model_cfg, {**post, **extra}, pretrained, pool, valid, output, tmp_path / f"{name}.csv")
        states[name] = load_detector(output).state_dict()
    assert all(torch.equal(states["default"][key], states["seed0"][key]) for key in states["default"])
    assert not torch.equal(states["seed0"]["head.weight"], states["seed1"]["head.weight"])


def test_table1_follows_the_paper_rows_and_averages():
    rows = []
    for model, method, seeds in (("mms_1b", "sft", (1, 2)), ("xlsr_2b", "none", (0,)), ("xlsr_2b", "sft", (1, 2))):
        for seed in seeds:
            for dataset, eer in (("dfe24_4s", 0.1 * seed), ("add23", 0.2), ("for", 0.4)):
                rows.append({"model": model, "method": method, "seed": seed, "dataset": dataset, "eer": eer})
    table = make_table1(pd.DataFrame(rows), TEST_SETS, {"xlsr_2b": "XLS-R-2B", "mms_1b": "MMS-1B"})
    assert list(table["row"]) == [1, 2, 14]           # the paper's ids, in the paper's order
    assert list(table["finetune"]) == ["x", "SFT", "SFT"]
    assert list(table["model"]) == ["XLS-R-2B", "XLS-R-2B", "MMS-1B"]
    sft = table.iloc[1]
    assert sft["DFE24 4s"] == pytest.approx(15.0)      # mean of seeds 1 and 2: (10 + 20) / 2
    assert sft["out-of-domain ave."] == pytest.approx(30.0)
    assert sft["in-domain ave."] == pytest.approx(15.0)


def test_paper_rows_are_the_twenty_of_table_1():
    assert len(PAPER_ROWS) == 20
    assert [r.row for r in PAPER_ROWS if r.method == "none"] == [1, 13, 17]
    assert [r.row for r in PAPER_ROWS if not r.posttrain] == [10, 11, 12]


def test_cross_entropy_logs_the_hard_sample_fraction_each_epoch(tmp_path, model_cfg):
    """The EMA of each sample's training loss starts at ln 2 < 0.7; SFT on separable data keeps it low."""
    spec = ModelSpec.from_config("tiny", model_cfg)
    store = labelled_store(tmp_path / "train.h5", 8, 0)
    method = SFT()
    train(Detector(spec, freeze="cnn", seed=0), method, WaveformDataset(store), WaveformDataset(store),
          TrainSettings(lr=1e-3, epochs=3, batch_size=4, seed=5), inputs_are_features=False,
          log_path=tmp_path / "run" / "sft" / "seed5" / "train_log.csv", progress=False)
    from deepfake_rl.train.logs import epoch_statistics

    epochs = epoch_statistics([tmp_path / "run" / "sft" / "seed5" / "train_log.csv"], "hard_fraction")
    assert list(epochs["epoch"]) == [0, 1, 2] and set(epochs["method"]) == {"sft"} and set(epochs["seed"]) == {5}
    assert epochs["value"].between(0, 1).all()
    expected = float((method.history.ema_loss > 0.7).float().mean())
    assert epochs["value"].iloc[-1] == pytest.approx(expected)
    assert method.history.ema_loss.ne(math.log(2)).all()          # every sample visited


def test_table2_has_tsrl_layout_with_means_over_seeds():
    from deepfake_rl.tables import make_table2

    rows = []
    for seed, auc in ((1, 0.8), (2, 0.6)):
        for method in ("sft", "tsrl"):
            for dataset in ("add23", "for", "pool_test"):
                rows.append({"model": "m", "method": method, "seed": seed, "dataset": dataset, "auc": auc,
                             "acc": 0.5, "eer": 0.25 if method == "sft" else 0.1})
    table = make_table2(pd.DataFrame(rows), {"add23": "ADD23", "for": "FoR"}, {"m": "Model"},
                        {"sft": "SFT", "cl": "CL", "tsrl": "TSRL"}, {"auc": "AUC", "eer": "EER"})
    assert list(table.columns) == ["model", "metric", "method", "ADD23", "FoR", "Avg."]
    assert list(zip(table["metric"], table["method"])) == [("AUC", "SFT"), ("AUC", "TSRL"), ("EER", "SFT"),
                                                           ("EER", "TSRL")]      # CL has no runs: no row
    assert table.loc[0, "ADD23"] == pytest.approx(0.7) and table.loc[3, "Avg."] == pytest.approx(0.1)


# ---- training crops (issue 15 item 4) -----------------------------------------------------------------

def _old_fixed_crop(dataset, crop: int, seed: int, augment, per_item: bool, epoch: int = 0) -> list[torch.Tensor]:
    """The training view's items as the code before [min, max] crops drew them (its __getitem__, verbatim
    in substance): one offset draw per long item, then RawBoost from the same Generator."""
    from deepfake_rl.data.rawboost import rawboost

    shared = np.random.default_rng(seed)
    items = []
    for index in range(len(dataset)):
        item = dataset[index][0]
        rng = np.random.default_rng([seed, epoch, index]) if per_item else shared
        if len(item) > crop:
            offset = int(rng.integers(0, len(item) - crop + 1))
            item = item[offset:offset + crop]
        if augment is not None:
            item = torch.from_numpy(rawboost(item.numpy(), augment, rng))
        items.append(item)
    return items


@pytest.mark.parametrize("per_item", [False, True])
def test_a_single_crop_length_draws_exactly_as_before(tmp_path, per_item):
    """crop_seconds as one number: the same items, bit for bit, as the fixed crop always gave (no extra
    random draw shifts the offsets or RawBoost's noise), with and without workers' per-item seeding;
    (c, c) is the same crop as c."""
    from deepfake_rl.data.rawboost import RawBoostSettings
    from deepfake_rl.train.loop import TrainingView

    dataset = WaveformDataset(labelled_store(tmp_path / "train.h5", 8, 0))
    for augment in (None, RawBoostSettings()):
        expected = _old_fixed_crop(dataset, 8000, 5, augment, per_item)
        for crop in (8000, (8000, 8000)):
            view = TrainingView(dataset, crop, 5, augment, per_item=per_item)
            assert all(torch.equal(view[i][0], expected[i]) for i in range(len(dataset))), (crop, augment)
    assert sum(len(item) > 8000 for item, _, _ in dataset) >= 3      # the case does crop


@pytest.mark.parametrize("per_item", [False, True])
def test_a_crop_range_draws_lengths_within_it(tmp_path, per_item):
    """crop (7000, 9000): every item longer than 9000 becomes a contiguous piece of it whose length lies in
    [7000, 9000] and varies between items and epochs; shorter items stay whole (the authors cut only clips
    over the max); dynamic batches are planned on the max."""
    from deepfake_rl.train.loop import TrainingView

    dataset = WaveformDataset(labelled_store(tmp_path / "train.h5", 40, 0))
    view = TrainingView(dataset, (7000, 9000), 5, per_item=per_item)
    sizes = []
    for epoch in range(3):
        view.epoch = epoch
        for index in range(len(dataset)):
            original, item = dataset[index][0], view[index][0]
            if len(original) <= 9000:
                assert torch.equal(item, original)
                continue
            assert 7000 <= len(item) <= 9000
            starts = torch.nonzero(original == item[0]).flatten().tolist()
            assert any(torch.equal(original[s:s + len(item)], item) for s in starts)   # a contiguous piece
            sizes.append(len(item))
    assert len(sizes) >= 30 and len(set(sizes)) > len(sizes) // 2        # lengths vary
    assert np.array_equal(view.lengths(), np.minimum(dataset.lengths(), 9000))
    assert np.array_equal(view.repeatable(), dataset.lengths() <= 9000)


def test_crop_seconds_become_items_and_bad_ranges_are_refused(model_cfg):
    from deepfake_rl.config import ConfigError, load_config, validate_config
    from deepfake_rl.train.loop import TrainingView

    spec = ModelSpec.from_config("tiny", model_cfg)
    assert stages.crop_for([10, 13], spec, features=False) == (160000, 208000)
    assert stages.crop_for(4.0, spec, features=False) == (64000, 64000)
    assert stages.crop_for([10, 13], spec, features=True) == (160000 // spec.frame_hop, 208000 // spec.frame_hop)
    assert stages.crop_for(None, spec, features=False) is None
    with pytest.raises(ValueError, match="min <= max"):
        TrainingView(WaveformDataset.__new__(WaveformDataset), (9000, 7000), 0)
    config = load_config("config/config.yaml")
    validate_config({**config, "finetune": {**config["finetune"], "crop_seconds": [10, 13]}})
    with pytest.raises(ConfigError, match=r"finetune.crop_seconds: \[min, max\] = \[13, 10\]: 13 must not exceed 10"):
        validate_config({**config, "finetune": {**config["finetune"], "crop_seconds": [13, 10]}})
    for bad in ([10], [0, 13]):
        with pytest.raises(ConfigError, match="finetune.crop_seconds"):
            validate_config({**config, "finetune": {**config["finetune"], "crop_seconds": bad}})
