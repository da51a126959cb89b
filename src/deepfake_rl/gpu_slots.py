"""One GPU per job on a single multi-GPU machine.

Snakemake's `--resources gpu=N` caps how many GPU jobs run at once but tells no job *which* GPU to
use, so every job would pick device 0. `gpu_slot` gives a job a free GPU of its own: it takes a
non-blocking exclusive lock (`fcntl.flock`) on one lock file per GPU id, sets CUDA_VISIBLE_DEVICES
to that one id for the rest of the job, and holds the lock until the job ends. The kernel drops
the lock when the process exits, so a killed job never leaves a slot taken.

    with gpu_slot(job.params.device):   # before the first CUDA call of the job
        run_the_stage()

It acts only when the device is exactly `cuda` (`cpu` and explicit `cuda:N` are left alone), no
scheduler has chosen the GPU (SLURM_JOB_ID unset: SLURM gives a job its own GPUs) and
CUDA_VISIBLE_DEVICES is unset or lists several ids. The ids come from DEEPFAKE_RL_GPUS
("0,1,2,3"), else from CUDA_VISIBLE_DEVICES, else from `nvidia-smi -L` (torch is never imported).
Locks live in DEEPFAKE_RL_GPU_LOCK_DIR, default `<tmp>/deepfake_rl_gpu_locks`, shared by every
workflow on the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path

GPUS_ENV = "DEEPFAKE_RL_GPUS"
LOCK_DIR_ENV = "DEEPFAKE_RL_GPU_LOCK_DIR"
SCHEDULER_ENVS = ("SLURM_JOB_ID",)  # a scheduler that assigns GPUs itself

log = logging.getLogger(__name__)


class NoFreeGpuError(RuntimeError):
    """Every GPU slot is held by another job."""


def _split_ids(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _nvidia_smi_ids() -> list[str]:
    """Indices 0..n-1 of the GPUs `nvidia-smi -L` lists; none when it is missing or fails."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        listing = subprocess.run([executable, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(index) for index, _ in enumerate(line for line in listing.splitlines() if line.startswith("GPU "))]


def candidate_gpus(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """The GPU ids jobs may take: DEEPFAKE_RL_GPUS, else CUDA_VISIBLE_DEVICES, else nvidia-smi."""
    env = os.environ if environ is None else environ
    for name in (GPUS_ENV, "CUDA_VISIBLE_DEVICES"):
        if env.get(name, "").strip():
            return _split_ids(env[name])
    return _nvidia_smi_ids()


def default_lock_dir(environ: MutableMapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "deepfake_rl_gpu_locks")


def needs_slot(device: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """True when the job runs on `cuda`, no scheduler chose its GPU and it may see several GPUs."""
    env = os.environ if environ is None else environ
    if str(device).strip() != "cuda" or any(env.get(name) for name in SCHEDULER_ENVS):
        return False
    return len(_split_ids(env.get("CUDA_VISIBLE_DEVICES", ""))) != 1


def _lock_path(lock_dir: Path, gpu: str) -> Path:
    return lock_dir / f"gpu_{re.sub(r'[^A-Za-z0-9_.-]', '_', gpu)}.lock"


@contextlib.contextmanager
def gpu_slot(device: str, *, environ: MutableMapping[str, str] | None = None,
             gpus: list[str] | None = None, lock_dir: str | Path | None = None) -> Iterator[str | None]:
    """Hold a free GPU for the duration of the block and show the job only that GPU.

    Yields the GPU id taken, or None when nothing was done (see the module docstring). `environ`
    (default os.environ) is where CUDA_VISIBLE_DEVICES is set, and restored on exit; `gpus` and
    `lock_dir` override DEEPFAKE_RL_GPUS and DEEPFAKE_RL_GPU_LOCK_DIR. Raises NoFreeGpuError when
    every slot is held (more concurrent GPU jobs than GPUs: lower `--resources gpu=N`).
    """
    env = os.environ if environ is None else environ
    if not needs_slot(device, env):
        yield None
        return
    ids = list(gpus) if gpus is not None else candidate_gpus(env)
    if not ids:
        log.warning("device cuda, but no GPU ids found (set %s, e.g. 0,1,2,3): CUDA_VISIBLE_DEVICES left as it is",
                    GPUS_ENV)
        yield None
        return
    directory = Path(lock_dir) if lock_dir is not None else default_lock_dir(env)
    directory.mkdir(parents=True, exist_ok=True)
    for gpu in ids:
        descriptor = os.open(_lock_path(directory, gpu), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another job (BlockingIOError), or locking refused
            os.close(descriptor)
            continue
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())  # who holds it, for a curious user
        previous = env.get("CUDA_VISIBLE_DEVICES")
        env["CUDA_VISIBLE_DEVICES"] = gpu
        log.info("GPU slot %s taken (CUDA_VISIBLE_DEVICES=%s, lock %s)", gpu, gpu, _lock_path(directory, gpu))
        try:
            yield gpu
        finally:
            if previous is None:
                env.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                env["CUDA_VISIBLE_DEVICES"] = previous
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)
        return
    raise NoFreeGpuError(
        f"no free GPU among {','.join(ids)}: every slot is held by another job (locks in {directory}). "
        f"Run at most {len(ids)} GPU jobs at once (snakemake --resources gpu={len(ids)}), or list more ids "
        f"in {GPUS_ENV}.")
