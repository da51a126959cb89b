"""GPU slots on one machine (no GPU needed): concurrent jobs get different GPUs, released slots are
reused, a full machine is a clear error, and SLURM jobs (or pinned/CPU jobs) are left alone."""

from __future__ import annotations

import os

import subprocess
import sys
import textwrap

import pytest

from deepfake_rl.gpu_slots import NoFreeGpuError, candidate_gpus, gpu_slot, needs_slot


@pytest.fixture()
def locks(tmp_path):
    return tmp_path / "locks"


def test_two_concurrent_holders_get_different_gpus(locks):
    first_env, second_env = {"DEEPFAKE_RL_GPUS": "0,1"}, {"DEEPFAKE_RL_GPUS": "0,1"}
    with gpu_slot("cuda", environ=first_env, lock_dir=locks) as first:
        with gpu_slot("cuda", environ=second_env, lock_dir=locks) as second:
            assert {first, second} == {"0", "1"}
            assert first_env["CUDA_VISIBLE_DEVICES"] == first and second_env["CUDA_VISIBLE_DEVICES"] == second
    assert "CUDA_VISIBLE_DEVICES" not in first_env and "CUDA_VISIBLE_DEVICES" not in second_env


def test_a_slot_held_by_another_process_is_skipped(locks):
    """The real case: jobs are separate processes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from deepfake_rl.gpu_slots import gpu_slot
            with gpu_slot("cuda", environ={{"DEEPFAKE_RL_GPUS": "0,1"}}, lock_dir={str(locks)!r}) as gpu:
                print(gpu, flush=True)
                sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "0"
        with gpu_slot("cuda", environ={"DEEPFAKE_RL_GPUS": "0,1"}, lock_dir=locks) as gpu:
            assert gpu == "1"
    finally:
        holder.communicate("\n", timeout=30)
    with gpu_slot("cuda", environ={"DEEPFAKE_RL_GPUS": "0,1"}, lock_dir=locks) as gpu:
        assert gpu == "0"  # the holder exited: its lock is gone


def test_a_released_slot_is_reused(locks):
    env = {"DEEPFAKE_RL_GPUS": "3"}
    with gpu_slot("cuda", environ=env, lock_dir=locks) as gpu:
        assert gpu == "3"
    with gpu_slot("cuda", environ=env, lock_dir=locks) as gpu:
        assert gpu == "3"


def test_no_free_slot_is_a_clear_error(locks):
    with gpu_slot("cuda", environ={"DEEPFAKE_RL_GPUS": "0"}, lock_dir=locks):
        with pytest.raises(NoFreeGpuError, match=r"no free GPU among 0.*--resources gpu=1"):
            with gpu_slot("cuda", environ={"DEEPFAKE_RL_GPUS": "0"}, lock_dir=locks):
                pass


def test_slots_come_from_several_visible_devices(locks):
    env = {"CUDA_VISIBLE_DEVICES": "2,5"}
    assert candidate_gpus(env) == ["2", "5"]
    with gpu_slot("cuda", environ=env, lock_dir=locks) as gpu:
        assert gpu == "2" and env["CUDA_VISIBLE_DEVICES"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == "2,5"  # restored


@pytest.mark.parametrize(("device", "env"), [
    ("cuda", {"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "0,1"}),  # SLURM assigned the GPUs
    ("cuda", {"CUDA_VISIBLE_DEVICES": "1"}),                          # already one GPU
    ("cpu", {"DEEPFAKE_RL_GPUS": "0,1"}),
    ("cuda:1", {"DEEPFAKE_RL_GPUS": "0,1"}),                          # an explicit index is kept
])
def test_left_alone(locks, device, env):
    before = dict(env)
    assert not needs_slot(device, env)
    with gpu_slot(device, environ=env, lock_dir=locks) as gpu:
        assert gpu is None and env == before
    assert not locks.exists()


def test_run_stage_gives_a_cuda_job_one_gpu_of_its_own(tmp_path, monkeypatch):
    """The workflow's entry point holds a slot around the stage: the stage sees one id."""
    from types import SimpleNamespace

    from deepfake_rl import workflow

    for variable in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DEEPFAKE_RL_GPUS", "3,5")
    monkeypatch.setenv("DEEPFAKE_RL_GPU_LOCK_DIR", str(tmp_path / "locks"))
    seen = []
    monkeypatch.setitem(workflow.STAGES, "probe", lambda job: seen.append(os.environ.get("CUDA_VISIBLE_DEVICES")))
    job = SimpleNamespace(rule="probe", threads=1, log=[str(tmp_path / "probe.log")],
                          params=SimpleNamespace(device="cuda"))
    workflow.run_stage(job)
    assert seen == ["3"]
