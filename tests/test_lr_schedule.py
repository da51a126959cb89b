"""The learning-rate schedule (issue 15 item 1): speechbrain's WarmAndExpDecayLRSchedule, stepped after
every update as the AntiDeepfake recipe does, against hand-computed rates; the loop applies it and logs
each update's rate; the config accepts it in `finetune` and per method, and refuses a broken one."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from deepfake_rl.config import ConfigError, load_config, method_settings, validate_config
from deepfake_rl.data.dataset import WaveformDataset
from deepfake_rl.methods.sft import SFT
from deepfake_rl.models import Detector, ModelSpec
from deepfake_rl.train.loop import TrainSettings, train
from deepfake_rl.train.lr_schedule import LRSchedule
from tests.test_models import TINY
from tests.test_training import labelled_store

AUTHORS = LRSchedule(1e-6, "warm_exp_decay", n_warmup_steps=80000, total_steps=50000, decay_factor=0.01)


def test_speechbrain_docstring_example():
    """speechbrain's own example (lr 1, warm-up 2, total 6, decay 0.01): its first four calls set
    0, 0.5, 1 and 0.01 ** (1 / 4)."""
    schedule = LRSchedule(1.0, "warm_exp_decay", n_warmup_steps=2, total_steps=6, decay_factor=0.01)
    assert [schedule.call_value(c) for c in range(4)] == [0.0, 0.5, 1.0, pytest.approx(0.31622776601683794, rel=1e-15)]


def test_update_rates_warm_up_then_decay():
    """lr 1e-3, W = 100, T = 300, d = 0.1. Update u runs at the value of call u - 1 (update 0: the
    optimiser's own lr, no call yet): f(c) = 1e-3 * c / 100 in the warm-up, 1e-3 * 0.1 ** ((c - 100) / 200)
    after it."""
    schedule = LRSchedule(1e-3, "warm_exp_decay", n_warmup_steps=100, total_steps=300)   # speechbrain's d = 0.1
    expected = {0: 1e-3,                  # before the first call
                1: 0.0,                   # f(0)
                2: 1e-5,                  # f(1) = 1e-3 / 100
                51: 5e-4,                 # f(50): mid-warm-up
                100: 9.9e-4,              # f(99): the warm-up's last value
                101: 1e-3,                # f(100): the peak, 0.1 ** 0
                201: 1e-3 * 10 ** -0.5,   # f(200): half-way through the decay, 3.1623e-4
                301: 1e-4,                # f(300) = lr * d at total_steps
                401: 1e-3 * 10 ** -1.5}   # f(400): the decay goes on past total_steps
    for step, rate in expected.items():
        assert schedule.lr_at(step) == pytest.approx(rate, rel=1e-12, abs=0), step


def test_no_warm_up_decays_from_the_first_call():
    schedule = LRSchedule(1.0, "warm_exp_decay", n_warmup_steps=0, total_steps=4, decay_factor=0.01)
    assert [schedule.lr_at(u) for u in range(4)] == [1.0, 1.0, pytest.approx(0.1 ** 0.5), pytest.approx(0.1)]


def test_authors_schedule_ramps_linearly_over_the_50k_updates():
    """W 80000 > T 50000: the decay never starts; within 50k updates the rate ramps linearly towards
    f(50000) = 6.25e-7, its last update at f(49998) = 1e-6 * 49998 / 80000; past W it stays at lr (the
    negative exponent makes d ** x > 1 and the min caps it)."""
    assert AUTHORS.lr_at(1) == 0.0
    assert AUTHORS.lr_at(2) == pytest.approx(1.25e-11, rel=1e-12)
    assert AUTHORS.lr_at(40001) == pytest.approx(5e-7, rel=1e-12)
    assert AUTHORS.lr_at(49999) == pytest.approx(6.24975e-7, rel=1e-12)
    assert AUTHORS.call_value(50000) == pytest.approx(6.25e-7, rel=1e-12)
    mean = sum(AUTHORS.lr_at(u) for u in range(50000)) / 50000
    assert mean == pytest.approx(3.125e-7, rel=1e-3)      # the "mean near 3e-7"
    assert AUTHORS.lr_at(80001) == AUTHORS.lr_at(120000) == 1e-6


def test_constant_and_config_forms():
    assert [LRSchedule.from_config(2e-3, None).lr_at(u) for u in (0, 1, 99)] == [2e-3] * 3
    assert LRSchedule.from_config(2e-3, {"kind": "constant"}) == LRSchedule(2e-3)
    spec = {"kind": "warm_exp_decay", "n_warmup_steps": 80000, "total_steps": 50000, "decay_factor": 0.01}
    assert LRSchedule.from_config(1e-6, spec) == AUTHORS
    assert LRSchedule.from_config(1.0, {"kind": "warm_exp_decay", "n_warmup_steps": 1, "total_steps": 2}).decay_factor \
        == 0.1                                             # speechbrain's default
    with pytest.raises(ValueError, match="not parameters of the 'constant'"):
        LRSchedule.from_config(1.0, {"kind": "constant", "n_warmup_steps": 5})
    with pytest.raises(ValueError, match="must differ"):
        LRSchedule(1.0, "warm_exp_decay", n_warmup_steps=5, total_steps=5)


def test_loop_applies_the_schedule_and_logs_each_rate(tmp_path):
    """4 updates under W = 2, T = 6: the log's lr column is the schedule's rate of each update (the old
    loop kept lr constant and logged no rate)."""
    spec = ModelSpec.from_config("tiny", {"label": "Tiny", **TINY})
    store = WaveformDataset(labelled_store(tmp_path / "train.h5", 8, 0))
    schedule = {"kind": "warm_exp_decay", "n_warmup_steps": 2, "total_steps": 6, "decay_factor": 0.01}
    settings = TrainSettings(lr=1e-3, epochs=2, batch_size=4, seed=3, crop=5000, lr_schedule=schedule)
    train(Detector(spec, freeze="layers:1", seed=0), SFT(), store, store, settings, inputs_are_features=False,
          log_path=tmp_path / "log.csv", progress=False)
    log = pd.read_csv(tmp_path / "log.csv")
    expected = [LRSchedule.from_config(1e-3, schedule).lr_at(u) for u in range(4)]
    assert list(log["lr"]) == pytest.approx(expected, rel=1e-12) and expected == [1e-3, 0.0, 5e-4, 1e-3]
    constant = TrainSettings(lr=1e-3, epochs=1, batch_size=4, seed=3)
    train(Detector(spec, freeze="layers:1", seed=0), SFT(), store, store, constant, inputs_are_features=False,
          log_path=tmp_path / "constant.csv", progress=False)
    assert set(pd.read_csv(tmp_path / "constant.csv")["lr"]) == {1e-3}


def test_a_zero_rate_update_leaves_the_parameters_alone(tmp_path):
    """Under W = 2 the second update runs at rate 0 (f(0)): the detector after 2 updates equals the one
    after 1 (the rate reaches AdamW, whose step and decoupled weight decay both scale with it); at a
    constant rate the second update moves it."""
    spec = ModelSpec.from_config("tiny", {"label": "Tiny", **TINY})
    store = WaveformDataset(labelled_store(tmp_path / "train.h5", 8, 0))

    def final_state(steps: int, schedule: dict | None) -> dict:
        detector = Detector(spec, freeze="layers:1", seed=0)
        settings = TrainSettings(lr=1e-3, epochs=1, batch_size=4, max_steps=steps, seed=3, lr_schedule=schedule)
        train(detector, SFT(), store, store, settings, inputs_are_features=False, progress=False)
        return detector.state_dict()     # no intermediate validation: the best state is the final one

    warm = {"kind": "warm_exp_decay", "n_warmup_steps": 2, "total_steps": 6}
    one, two = final_state(1, warm), final_state(2, warm)
    assert all(torch.equal(one[key], two[key]) for key in one)
    constant = final_state(2, None)
    assert not all(torch.equal(one[key], constant[key]) for key in one)


def _with(config: dict, **finetune) -> dict:
    return {**config, "finetune": {**config["finetune"], **finetune}}


def test_config_merges_the_schedule_and_refuses_broken_ones():
    config = load_config("config/config.yaml")
    authors = {"kind": "warm_exp_decay", "n_warmup_steps": 80000, "total_steps": 50000, "decay_factor": 0.01}
    config = _with(config, lr_schedule=authors)
    config["methods"] = {**config["methods"], "sft": {"loss": "sft", "lr_schedule": {"kind": "constant"}}}
    validate_config(config)
    assert method_settings(config, "grpo")["lr_schedule"] == authors           # finetune's default
    assert method_settings(config, "sft")["lr_schedule"] == {"kind": "constant"}  # the method's own
    assert "lr_schedule" not in method_settings(config, "none")
    broken = _with(config, lr_schedule={"kind": "warm_exp_decay", "n_warmup_steps": 5, "total_steps": 5})
    with pytest.raises(ConfigError, match="finetune.lr_schedule: total_steps must differ"):
        validate_config(broken)
    with pytest.raises(ConfigError, match="finetune.lr_schedule: 'n_warmup_steps' is a required property"):
        validate_config(_with(config, lr_schedule={"kind": "warm_exp_decay", "total_steps": 5}))
    with pytest.raises(ConfigError, match="not parameters of the 'constant' schedule"):
        validate_config(_with(config, lr_schedule={"kind": "constant", "total_steps": 5}))
    with pytest.raises(ConfigError, match="finetune.lr_schedule.kind: 'cosine' is not one of"):
        validate_config(_with(config, lr_schedule={"kind": "cosine"}))
