"""Importing released checkpoints as the workflow's starting points (rules/models.smk import_checkpoint).

* posttrained: an AntiDeepfake post-trained detector (`xlsr_2b.ckpt`, `mms_1b.ckpt`,
  `mms_300m.ckpt`, or their `model.safetensors`) -> `data/models/<model>/posttrained.safetensors`
  (our detector checkpoint, `checkpoint.save_detector`), via `convert.import_antideepfake`.
* pretrained: the SSL front end alone (the paper's rows 10-12 start from the fairseq pre-trained
  model and a new head) -> `data/models/<model>/pretrained.safetensors` (`checkpoint.save_frontend`).
  Accepted: safetensors, or a torch file that is a plain state dict (Hugging Face
  `pytorch_model.bin`), with Hugging Face names (`wav2vec2.*` of Wav2Vec2ForPreTraining/ForCTC, or a
  bare Wav2Vec2Model; old `weight_g`/`weight_v` positional-conv names too), fairseq names
  (`post_extract_proj.*`, ...) or AntiDeepfake names (`m_ssl.model.*`; its head is ignored).
  Pre-training and ASR heads (quantizer, project_q/project_hid, final_proj, lm_head) are dropped
  and listed in the import record.

Nothing is unpickled: torch files are read with `weights_only=True`. fairseq's own `.pt` files
pickle their training configuration (argparse / omegaconf objects) and are refused with a message
that says how to convert them once, outside the workflow.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from deepfake_rl.io_utils import atomic_path
from deepfake_rl.models.checkpoint import save_detector, save_frontend
from deepfake_rl.models.convert import (ADAPTER, FRONTEND, HEAD, PRETRAINING_ONLY, SSL_PREFIX, ConversionError,
                                        ImportReport, antideepfake_to_detector_state, fairseq_to_transformers,
                                        load_into_detector, read_state_dict)
from deepfake_rl.models.detector import Detector
from deepfake_rl.models.spec import ModelSpec

log = logging.getLogger(__name__)

HF_PREFIX = "wav2vec2."
_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.")
HF_HEADS = ("quantizer.", "project_hid.", "project_q.", "lm_head.", "projector.", "classifier.", "dropout_features.")
_POS_CONV = "encoder.pos_conv_embed.conv."
OLD_WEIGHT_NORM = {_POS_CONV + "weight_g": _POS_CONV + "parametrizations.weight.original0",
                   _POS_CONV + "weight_v": _POS_CONV + "parametrizations.weight.original1"}
FAIRSEQ_HELP = (
    "fairseq's own .pt files pickle their training configuration (argparse.Namespace / omegaconf objects), "
    "which torch.load(weights_only=True) refuses, and this workflow never unpickles a file. Convert it once, "
    "in an environment you trust, to the Hugging Face form, e.g. with transformers' conversion script (needs "
    "fairseq): python -m transformers.models.wav2vec2.convert_wav2vec2_original_pytorch_checkpoint_to_pytorch "
    "--checkpoint_path <file>.pt --pytorch_dump_folder_path <folder> --not_finetuned, then set "
    "checkpoints.<model>.pretrained to <folder>/model.safetensors; or use the Hugging Face copy of the model "
    "(facebook/wav2vec2-xls-r-2b, facebook/mms-1b, facebook/mms-300m: model.safetensors or pytorch_model.bin)")
ANTIDEEPFAKE_HELP = ("AntiDeepfake's released .ckpt files are plain state dicts; a file refused here is not one "
                     "of them (or was re-saved with Python objects in it).")


class CheckpointImportError(ConversionError):
    """A checkpoint cannot be imported; the message names the file and what to do."""


def _read(path: str | Path, advice: str) -> dict[str, torch.Tensor]:
    """read_state_dict, with advice when a pickle is refused (torch.load(weights_only=True) said no)."""
    try:
        return read_state_dict(path)
    except ConversionError as error:
        if "refused" in str(error):
            raise CheckpointImportError(f"{error} {advice}") from None
        raise


def frontend_state(state: Mapping[str, torch.Tensor], source: str, *, drop_adapters: bool = False
                   ) -> tuple[dict[str, torch.Tensor], ImportReport]:
    """The Wav2Vec2Model part of a pre-trained SSL checkpoint in any accepted layout, transformers names."""
    if any(key.startswith(SSL_PREFIX) for key in state):   # AntiDeepfake layout: front end + proj_fc head
        ignored = [key for key in state if not key.startswith(SSL_PREFIX)]
        state = {key[len(SSL_PREFIX):]: value for key, value in state.items() if key.startswith(SSL_PREFIX)}
    elif any(key.startswith(HF_PREFIX) for key in state):  # Wav2Vec2ForPreTraining / ForCTC
        ignored = [key for key in state if not key.startswith(HF_PREFIX)]
        state = {key[len(HF_PREFIX):]: value for key, value in state.items() if key.startswith(HF_PREFIX)}
    else:
        ignored = []
    if "post_extract_proj.weight" in state:
        layout = "fairseq"
    elif "feature_projection.projection.weight" in state:
        layout = "transformers"
    else:
        raise CheckpointImportError(
            f"{source}: no wav2vec2 front end found (neither fairseq post_extract_proj.weight nor transformers "
            f"feature_projection.projection.weight, with or without the {HF_PREFIX} or {SSL_PREFIX} prefix); "
            f"first keys: {sorted(state)[:5]}")
    report = ImportReport(source=source, layout=layout)
    heads = PRETRAINING_ONLY if layout == "fairseq" else HF_HEADS
    ignored += [key for key in state if key.startswith(heads)]
    adapters = sorted(key for key in state if ADAPTER.match(key) or ".adapter_layer." in key)
    if adapters and not drop_adapters:
        raise CheckpointImportError(
            f"{source}: {len(adapters)} MMS language-adapter weights (e.g. {adapters[0]}): our front end has no "
            "adapters; use the adapter-free pre-trained model (e.g. facebook/mms-1b, not mms-1b-all), or set "
            "checkpoints.<model>.drop_adapters: true if they are unused")
    report.dropped_adapters = adapters
    report.ignored = sorted(ignored)
    kept = {key: value for key, value in state.items() if not key.startswith(heads) and key not in adapters}
    if layout == "fairseq":
        try:
            kept = fairseq_to_transformers(kept)
        except ConversionError as error:
            raise CheckpointImportError(f"{source}: {error}") from None
    return {OLD_WEIGHT_NORM.get(key, key): value for key, value in kept.items()}, report


def _record(path: str | Path, report: ImportReport, spec: ModelSpec, kind: str) -> dict[str, Any]:
    record = {"kind": kind, "source": str(path), "model": spec.key, "layout": report.layout,
              "ignored": report.ignored, "dropped_adapters": report.dropped_adapters, "defaulted": report.defaulted}
    for field in ("ignored", "dropped_adapters", "defaulted"):
        if record[field]:
            log.info("%s: %s %s", path, field.replace("_", " "), ", ".join(record[field]))
    return record


def check_size(frontend: Mapping[str, torch.Tensor], spec: ModelSpec, source: str) -> None:
    """Hidden size and depth of a front end (transformers names) against the model's spec, before a
    full-size detector is built (tens of seconds and GB for XLS-R-2B): a checkpoint of another model
    fails in a second with both sizes named."""
    projection = frontend.get("feature_projection.projection.weight")
    depth = 1 + max((int(match.group(1)) for key in frontend
                     if (match := _LAYER.match(key))), default=-1)
    hidden = None if projection is None else int(projection.shape[0])
    if (hidden, depth) != (spec.hidden_size, spec.num_layers):
        raise CheckpointImportError(f"{source}: holds a front end of hidden size {hidden} with {depth} transformer "
                                    f"layers, but models.{spec.key} is hidden_size {spec.hidden_size}, num_layers "
                                    f"{spec.num_layers}: the checkpoint of another model, or another spec?")


def import_posttrained(source: str | Path, model_key: str, model_cfg: Mapping[str, Any], output: str | Path, *,
                       drop_adapters: bool = False, record_path: str | Path | None = None) -> dict[str, Any]:
    """An AntiDeepfake post-trained detector as our detector checkpoint (`convert.import_antideepfake`,
    with the size check first); returns the import record."""
    spec = ModelSpec.from_config(model_key, model_cfg)
    try:
        state, report = antideepfake_to_detector_state(_read(source, ANTIDEEPFAKE_HELP), str(source),
                                                       drop_adapters=drop_adapters)
    except CheckpointImportError:
        raise
    except ConversionError as error:
        if "adapter" in str(error) and not drop_adapters:
            raise CheckpointImportError(f"{error} [config: checkpoints.{model_key}.drop_adapters: true]") from None
        raise
    check_size({key[len(FRONTEND):]: value for key, value in state.items() if key.startswith(FRONTEND)}, spec,
               str(source))
    detector = Detector(spec, seed=0)
    load_into_detector(detector, state, report)   # strict; names missing, unexpected and mis-shaped keys
    detector.source_checkpoint = str(source)
    record = _record(source, report, spec, "posttrained")
    save_detector(detector, output, metadata={"imported": record})
    _write_record(record_path, record)
    return record


def import_pretrained(source: str | Path, model_key: str, model_cfg: Mapping[str, Any], output: str | Path, *,
                      drop_adapters: bool = False, record_path: str | Path | None = None) -> dict[str, Any]:
    """A pre-trained SSL front end as our front-end checkpoint; returns the import record."""
    spec = ModelSpec.from_config(model_key, model_cfg)
    frontend, report = frontend_state(_read(source, FAIRSEQ_HELP), str(source),
                                      drop_adapters=drop_adapters)
    check_size(frontend, spec, str(source))
    detector = Detector(spec, seed=0)
    state = {FRONTEND + key: value for key, value in frontend.items()}
    state.update({HEAD + key: value for key, value in detector.head.state_dict().items()})  # head: not imported
    load_into_detector(detector, state, report)   # strict; names missing, unexpected and mis-shaped keys
    record = _record(source, report, spec, "pretrained")
    save_frontend(detector.frontend.state_dict(), output, spec, metadata={"imported": record})
    _write_record(record_path, record)
    return record


def _write_record(path: str | Path | None, record: Mapping[str, Any]) -> None:
    if path is not None:
        with atomic_path(path) as temporary:
            Path(temporary).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


__all__ = ["FAIRSEQ_HELP", "CheckpointImportError", "check_size", "frontend_state", "import_posttrained",
           "import_pretrained"]
