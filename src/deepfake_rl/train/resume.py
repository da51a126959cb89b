"""Resumable training: the loop's whole state in one file, written atomically, read back safely.

A fine-tuning job killed by SIGTERM (Snakemake stopping, a SLURM preemption or time limit) writes
its state at the step it was at and exits; one killed harder (SIGKILL, a node failure) loses at most
`checkpoint_every` steps. Rerunning the job resumes from the file and ends with the same result as
an uninterrupted run (CPU, same seed): parameters, optimiser moments, the method's state, the global
RNG, the data order of the current epoch, the log rows and the update count are all restored; the
update count is also the learning-rate schedule's position (deepfake_rl.train.lr_schedule: the rate
is a function of it), so the schedule continues where it stopped.

The file is read with `torch.load(weights_only=True)` (tensors, numbers, strings, lists and dicts
only: nothing is unpickled) and is used only when its fingerprint matches the job's: a changed
config, seed or input file starts the run afresh instead of continuing a different one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from deepfake_rl.io_utils import atomic_path

log = logging.getLogger(__name__)

FORMAT = 1
RESUME_NAME = "resume.pt"   # a training job's state, next to its checkpoint until that is written
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after saving its state; rerunning the job resumes it."""


def file_identity(path: str | Path) -> dict[str, Any]:
    """What identifies an input file cheaply: its path, size and modification time."""
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def fingerprint(**parts: Any) -> str:
    """A stable digest of a job's settings and input identities (JSON, keys sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def resumable_job(output: str | Path, inputs: Sequence[str | Path], **settings: Any) -> Iterator[tuple[Path, str]]:
    """(state file, fingerprint) of the training job that writes `output`: the state lives next to
    it as RESUME_NAME, and the fingerprint covers `settings` and the identities of the `inputs`
    files. The state file is removed when the block completes, i.e. once the outputs are written;
    an exception (a signal, a crash) leaves it for the rerun."""
    state = Path(output).with_name(RESUME_NAME)
    yield state, fingerprint(inputs=[file_identity(path) for path in inputs], **settings)
    discard_state(state)


def save_state(path: str | Path, state: dict[str, Any], job_fingerprint: str) -> None:
    """Write the state atomically: a kill during the write leaves the previous file intact."""
    with atomic_path(path) as temporary:
        torch.save({"format": FORMAT, "fingerprint": job_fingerprint, **state}, temporary)


def load_state(path: str | Path, job_fingerprint: str) -> dict[str, Any] | None:
    """The saved state if `path` holds one for this very job, else None (with the reason logged)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or damaged file: never fatal, never unpickled
        log.warning("%s: not a readable resume state (%s); training starts afresh", path, error)
        return None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        log.warning("%s: unknown resume state format; training starts afresh", path)
        return None
    if state.get("fingerprint") != job_fingerprint:
        log.warning("%s: saved by a job with other settings or inputs; training starts afresh", path)
        return None
    return state


def discard_state(path: str | Path) -> None:
    """Remove the resume file once the job's outputs are written."""
    Path(path).unlink(missing_ok=True)


class StopRequest:
    """Set by SIGTERM/SIGINT while training, so the loop can save and stop at the next step boundary
    instead of dying mid-update."""

    def __init__(self) -> None:
        self.signal_number: int | None = None

    def __bool__(self) -> bool:
        return self.signal_number is not None

    def _handle(self, signal_number: int, _frame: Any) -> None:
        self.signal_number = signal_number

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Catch the stop signals for the duration of the block (main thread only; elsewhere a no-op)."""
        try:
            previous = {number: signal.signal(number, self._handle) for number in STOP_SIGNALS}
        except ValueError:  # not the main thread: signals cannot be caught here
            yield self
            return
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def rng_state() -> dict[str, Any]:
    """The global torch RNG state(s): CPU, and every CUDA device when CUDA is in use."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
