"""Resumable training (issue 10 item 2, issue 8 item 4): a run stopped by SIGTERM, or crashed after a
periodic save, continues from its resume state to exactly the result of an uninterrupted run; the
state file is trusted only for its own job and never unpickled; the GPU-path options (dynamic
batches, RawBoost, bf16 autocast) train and resume too."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from torch import nn

from deepfake_rl.data.dataset import WaveformDataset
from deepfake_rl.data.rawboost import RawBoostSettings
from deepfake_rl.methods import build_method
from deepfake_rl.methods.base import Batch, Method
from deepfake_rl.methods.sft import SFT
from deepfake_rl.models import Detector, ModelSpec, load_detector, save_detector
from deepfake_rl.train.loop import TrainingView, TrainSettings, train
from deepfake_rl.train.resume import RESUME_NAME, TrainingInterrupted, fingerprint, load_state, save_state
from tests.test_models import TINY
from tests.test_training import labelled_store

REPO = Path(__file__).resolve().parents[1]
SPEC = ModelSpec.from_config("tiny", {"label": "Tiny", **TINY})
# 10 items, batches of 4 (drop_last): 2 steps per epoch, 4 epochs = 8 steps; crops make inputs vary
SETTINGS = TrainSettings(lr=1e-3, epochs=4, batch_size=4, seed=5, crop=7000, valid_every=3)
METHODS = {
    "sft": ("sft", {}),
    "grpo": ("grpo", {"group_size": 8, "old_refresh_steps": 3}),     # refreshes its old policy mid-run
    "tsrl": ("tsrl", {"warmup_epochs": 1, "ppo_epochs": 2, "minibatch_size": 4, "bc_epochs": 2}),
}


class Failing(Method):
    """Wraps a method; at `at_step`, sends itself SIGTERM (a preemption) or raises (a crash)."""

    def __init__(self, inner: Method, at_step: int, how: str) -> None:
        self.inner, self.at_step, self.how = inner, at_step, how

    def setup(self, detector: nn.Module, train_size: int) -> None:
        self.inner.setup(detector, train_size)

    def loss(self, detector: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.inner.loss(detector, batch)

    def after_step(self, detector: nn.Module, step: int, batch: Batch) -> dict[str, float]:
        stats = self.inner.after_step(detector, step, batch)
        if step == self.at_step:
            if self.how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise RuntimeError("simulated crash")
        return stats

    def after_epoch(self, detector: nn.Module, epoch: int) -> dict[str, float]:
        return self.inner.after_epoch(detector, epoch)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    return WaveformDataset(labelled_store(root / "train.h5", 10, 0)), WaveformDataset(labelled_store(root / "valid.h5", 6, 1))


def run(stores, method: Method, settings: TrainSettings, log: Path, resume: Path | None = None):
    detector = Detector(SPEC, freeze="layers:1", seed=0)
    result = train(detector, method, *stores, settings, inputs_are_features=False, log_path=log, progress=False,
                   resume_path=resume, fingerprint="job")
    return detector.state_dict(), pd.read_csv(log).drop(columns="seconds"), result


def assert_same_run(first, second) -> None:
    for key, value in first[0].items():
        assert torch.equal(value, second[0][key]), f"{key} differs after resume"
    pd.testing.assert_frame_equal(first[1], second[1])


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("how, at_step", [("sigterm", 3), ("sigterm", 4), ("crash", 5)])
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, stores, name, how, at_step):
    """SIGTERM at step 3 (mid-epoch) or 4 (an epoch's last step), or a crash at step 5 after the save at
    step 4 (checkpoint_every 2): the rerun continues from the state and ends bit-identical."""
    loss, params = METHODS[name]
    reference = run(stores, build_method(loss, params), SETTINGS, tmp_path / "reference.csv")
    settings = TrainSettings(**{**vars(SETTINGS), "checkpoint_every": 2})
    resume = tmp_path / "resume.pt"
    expected = TrainingInterrupted if how == "sigterm" else RuntimeError
    with pytest.raises(expected):
        run(stores, Failing(build_method(loss, params), at_step, how), settings, tmp_path / "log.csv", resume)
    saved = torch.load(resume, weights_only=True)
    assert saved["step"] == (at_step if how == "sigterm" else 4)
    resumed = run(stores, build_method(loss, params), settings, tmp_path / "log.csv", resume)
    assert resumed[2].resumed_from == saved["step"] and resumed[2].steps == 8
    assert_same_run(reference, resumed)


def test_resumed_run_follows_the_learning_rate_schedule(tmp_path, stores):
    """warm_exp_decay (warm-up 3, decay to 0.01 at update 6) across a SIGTERM at step 3: the resumed run
    takes every update at the rate of the uninterrupted one (the schedule's position is the saved step)
    and ends bit-identical, log (with its lr column) included."""
    schedule = {"kind": "warm_exp_decay", "n_warmup_steps": 3, "total_steps": 6, "decay_factor": 0.01}
    settings = TrainSettings(**{**vars(SETTINGS), "lr_schedule": schedule, "checkpoint_every": 2})
    reference = run(stores, build_method("sft"), settings, tmp_path / "reference.csv")
    assert reference[1]["lr"].nunique() == 7           # 1e-3, 0, the ramp, 1e-3 again, the decay
    with pytest.raises(TrainingInterrupted):
        run(stores, Failing(build_method("sft"), 3, "sigterm"), settings, tmp_path / "log.csv", tmp_path / "r.pt")
    resumed = run(stores, build_method("sft"), settings, tmp_path / "log.csv", tmp_path / "r.pt")
    assert resumed[2].resumed_from == 3
    assert_same_run(reference, resumed)


def test_a_state_of_another_job_or_a_pickle_is_not_used(tmp_path, stores):
    resume = tmp_path / "resume.pt"
    save_state(resume, {"step": 3}, fingerprint(seed=1))
    assert load_state(resume, fingerprint(seed=2)) is None
    assert load_state(resume, fingerprint(seed=1))["step"] == 3

    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    resume.write_bytes(pickle.dumps({"format": 1, "fingerprint": "job", "payload": Exploit()}, protocol=2))
    assert load_state(resume, "job") is None and not marker.exists()
    # and training with it starts afresh (all 8 steps) instead of failing
    state, _, result = run(stores, build_method("sft"), SETTINGS, tmp_path / "log.csv", resume)
    assert result.resumed_from == 0 and result.steps == 8 and not marker.exists()


def test_gpu_path_options_train_and_resume(tmp_path, stores):
    """Dynamic batches bounded by padded length, RawBoost on the waveforms and bf16 autocast (CPU
    here) together, interrupted and resumed: identical to the uninterrupted run."""
    settings = TrainSettings(**{**vars(SETTINGS), "max_batch_items": 3 * 7000, "augment": RawBoostSettings(),
                                "precision": "bf16", "checkpoint_every": 2})
    reference = run(stores, build_method("sft"), settings, tmp_path / "reference.csv")
    assert reference[2].steps > 8       # batches of at most 3 cropped items: more steps than batch_size 4
    with pytest.raises(TrainingInterrupted):
        run(stores, Failing(build_method("sft"), 5, "sigterm"), settings, tmp_path / "log.csv", tmp_path / "r.pt")
    assert_same_run(reference, run(stores, build_method("sft"), settings, tmp_path / "log.csv", tmp_path / "r.pt"))


def test_data_loader_workers_give_the_same_run_for_any_count_and_resume(tmp_path, stores):
    """With workers, each item's crop and RawBoost draws come from (seed, epoch, position): 1 and 2
    workers train identically, and a run stopped mid-epoch resumes to the same weights."""
    settings = TrainSettings(**{**vars(SETTINGS), "augment": RawBoostSettings(), "checkpoint_every": 2})
    one = run(stores, build_method("sft"), TrainSettings(**{**vars(settings), "workers": 1}), tmp_path / "one.csv")
    two_workers = TrainSettings(**{**vars(settings), "workers": 2})
    assert_same_run(one, run(stores, build_method("sft"), two_workers, tmp_path / "two.csv"))
    with pytest.raises(TrainingInterrupted):
        run(stores, Failing(build_method("sft"), 3, "sigterm"), two_workers, tmp_path / "log.csv", tmp_path / "r.pt")
    assert_same_run(one, run(stores, build_method("sft"), two_workers, tmp_path / "log.csv", tmp_path / "r.pt"))
    view = TrainingView(stores[0], crop=4000, seed=5, augment=RawBoostSettings(), per_item=True)
    first = view[0][0]
    assert torch.equal(first, view[0][0])                   # the same item in the same epoch: the same draws
    view.epoch = 1
    assert not torch.equal(first, view[0][0])               # a new epoch: new crop and noise


def test_rawboost_on_cached_features_is_refused(stores):
    settings = TrainSettings(**{**vars(SETTINGS), "augment": RawBoostSettings()})
    with pytest.raises(ValueError, match="RawBoost"):
        train(Detector(SPEC, freeze="layers:1", seed=0), build_method("sft"), *stores, settings,
              inputs_are_features=True, progress=False)


FINETUNE = """
import sys
from deepfake_rl import stages
root = sys.argv[1]
stages.finetune("tiny", {model!r}, {{"loss": "sft", "init": "posttrained", "lr": 1e-3, "epochs": 40}},
                {{"freeze": "layers:1", "batch_size": 4, "crop_seconds": 0.4}}, 1, root + "/init.safetensors",
                root + "/train.h5", root + "/valid.h5", sys.argv[2] + "/model.safetensors", sys.argv[2] + "/log.csv",
                checkpoint_every=int(sys.argv[3]))
"""


def finetune_process(root: Path, out: Path, checkpoint_every: int) -> subprocess.Popen:
    script = FINETUNE.format(model={"label": "Tiny", **TINY})
    return subprocess.Popen([sys.executable, "-c", script, str(root), str(out), str(checkpoint_every)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_finetune_job_killed_by_sigterm_resumes_in_a_new_process(tmp_path):
    """The job as Snakemake or SLURM runs it: a separate process gets SIGTERM from outside mid-run,
    leaves no output checkpoint but a resume state, and the rerun ends where an uninterrupted run does."""
    labelled_store(tmp_path / "train.h5", 10, 0)
    labelled_store(tmp_path / "valid.h5", 6, 1)
    save_detector(Detector(SPEC, freeze="layers:1", seed=0), tmp_path / "init.safetensors")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = finetune_process(tmp_path, killed, checkpoint_every=5)
    deadline = time.monotonic() + 120
    while not (killed / RESUME_NAME).exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and "rerun the job to resume" in stderr
    assert not (killed / "model.safetensors").exists()
    stopped_at = torch.load(killed / RESUME_NAME, weights_only=True)["step"]
    assert 0 < stopped_at < 80
    for out in (killed, whole):       # the rerun of the killed job, and a run never interrupted
        process = finetune_process(tmp_path, out, checkpoint_every=5)
        assert process.wait(timeout=300) == 0, process.communicate()
    assert not (killed / RESUME_NAME).exists()
    resumed, uninterrupted = load_detector(killed / "model.safetensors"), load_detector(whole / "model.safetensors")
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    pd.testing.assert_frame_equal(pd.read_csv(killed / "log.csv").drop(columns="seconds"),
                                  pd.read_csv(whole / "log.csv").drop(columns="seconds"))


def test_keep_final_resumes_and_a_keep_best_job_refuses_its_state(tmp_path, stores):
    """keep final saves no best state: its own rerun resumes bit-identical to an uninterrupted keep-final run;
    a keep-best run does not use that state (another job's, by its fingerprint) and starts afresh, as for any
    state of another job, instead of failing inside torch."""
    settings = TrainSettings(**{**vars(SETTINGS), "keep": "final"})
    reference = run(stores, SFT(), settings, tmp_path / "reference.csv")
    resume, checkpointed = tmp_path / "resume.pt", TrainSettings(**{**vars(settings), "checkpoint_every": 2})
    with pytest.raises(TrainingInterrupted):
        run(stores, Failing(SFT(), 3, "sigterm"), checkpointed, tmp_path / "log.csv", resume)
    other = tmp_path / "other" / "resume.pt"
    other.parent.mkdir()
    other.write_bytes(resume.read_bytes())
    refused = run(stores, SFT(), TrainSettings(**{**vars(checkpointed), "keep": "best"}), tmp_path / "best.csv", other)
    assert refused[2].resumed_from == 0 and refused[2].steps == 8
    resumed = run(stores, SFT(), checkpointed, tmp_path / "log.csv", resume)
    assert resumed[2].resumed_from == 3 and resumed[2].kept_step == resumed[2].steps == 8
    assert_same_run(reference, resumed)
