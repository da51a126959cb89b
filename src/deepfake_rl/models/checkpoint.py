"""Detector and front-end checkpoints as safetensors files, never pickles.

A pickle (torch.save's format) runs arbitrary code when loaded, and checkpoints travel between
machines and people; safetensors holds only tensors plus a string->string header. The spec,
freeze mode and caller metadata are stored in that header as JSON, so a checkpoint rebuilds its
detector without any other file. Nothing here unpickles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from deepfake_rl.errors import DataError, require_file
from deepfake_rl.io_utils import atomic_path
from deepfake_rl.models.detector import Detector
from deepfake_rl.models.spec import ModelSpec

FORMAT = "deepfake_rl"
DETECTOR, FRONTEND = "detector", "frontend"


class CheckpointError(DataError):
    """A checkpoint file is not a valid deepfake_rl safetensors file of the expected kind."""


def _write(path: str | Path, tensors: Mapping[str, torch.Tensor], header: Mapping[str, Any]) -> None:
    """Atomically write tensors with a JSON-encoded header (safetensors metadata is str -> str)."""
    contiguous = {name: tensor.detach().to("cpu").contiguous() for name, tensor in tensors.items()}
    metadata = {"format": FORMAT, **{key: json.dumps(value, sort_keys=True, default=str)
                                      for key, value in header.items()}}
    with atomic_path(path) as temporary:
        save_file(contiguous, str(temporary), metadata=metadata)


def _read(path: str | Path, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and decoded header of a checkpoint of `kind`; errors name the file."""
    path = require_file(path, "checkpoint")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            raw = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        header = {key: json.loads(value) for key, value in raw.items() if key != "format"}
    except Exception as error:  # safetensors raises its own error types for malformed files
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({error}); only safetensors "
                              "files are loaded, pickled .pt/.ckpt files are refused") from None
    if raw.get("format") != FORMAT or header.get("kind") != kind:
        raise CheckpointError(f"{path}: expected a {FORMAT} {kind} checkpoint, found "
                              f"format={raw.get('format')!r} kind={header.get('kind')!r}")
    return tensors, header


def read_checkpoint_metadata(path: str | Path, kind: str = DETECTOR) -> dict[str, Any]:
    """The caller metadata stored with a checkpoint (e.g. training losses, seed, data)."""
    return _read(path, kind)[1]["metadata"]


def save_detector(detector: Detector, path: str | Path, metadata: Mapping[str, Any] | None = None) -> None:
    """Write all detector weights; the spec and freeze mode go into the header."""
    _write(path, detector.state_dict(), {"kind": DETECTOR, "spec": detector.spec.to_dict(),
                                         "freeze": detector.freeze, "source": detector.source_checkpoint,
                                         "metadata": dict(metadata or {})})


def load_detector(path: str | Path, freeze: str | None = None) -> Detector:
    """Rebuild a detector from its checkpoint (strict: every weight present, no extra ones).

    `freeze` overrides the stored freeze mode (e.g. evaluate or re-train a detector differently)."""
    tensors, header = _read(path, DETECTOR)
    spec_fields = dict(header["spec"])
    spec = ModelSpec.from_config(spec_fields.pop("key"), spec_fields)
    detector = Detector(spec, freeze=header["freeze"] if freeze is None else freeze)
    _load_strict(detector, tensors, path)
    detector.source_checkpoint = str(path)
    return detector


def save_frontend(frontend_state: Mapping[str, torch.Tensor], path: str | Path, spec: ModelSpec,
                  metadata: Mapping[str, Any] | None = None) -> None:
    """Write a pre-trained SSL front end (Wav2Vec2Model state, e.g. `pretrained_frontend_state`)."""
    _write(path, frontend_state, {"kind": FRONTEND, "spec": spec.to_dict(), "metadata": dict(metadata or {})})


def load_frontend_into(detector: Detector, path: str | Path) -> dict[str, Any]:
    """Load a pre-trained front end into `detector` (strict); its head stays as initialised (seeded).

    Refuses a front end whose architecture differs from the detector's spec. Returns the stored
    metadata."""
    tensors, header = _read(path, FRONTEND)
    stored = dict(header["spec"])
    stored_spec = ModelSpec.from_config(stored.pop("key"), stored)
    if stored_spec.architecture() != detector.spec.architecture():
        raise CheckpointError(f"{path}: front end of model {stored_spec.key!r} does not fit detector model "
                              f"{detector.spec.key!r}: {stored_spec.architecture()} != "
                              f"{detector.spec.architecture()}")
    _load_strict(detector.frontend, tensors, path)
    detector.source_checkpoint = str(path)
    return header["metadata"]


def _load_strict(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """load_state_dict(strict=True) with an error that names the file."""
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not match the model: {error}") from None
