"""Import AntiDeepfake checkpoints into our Detector (and export back, for tests and round trips).

AntiDeepfake's released `.ckpt` files (xlsr_2b, mms_1b, mms_300m; CC BY-NC-SA 4.0) are plain
state dicts of its `models/W2V.py` Model: the fairseq wav2vec2 front end under `m_ssl.model.` and the
back end `proj_fc` = Linear(D, 2) after average pooling, index 0 fake / 1 real - the same head
and label convention as our Detector, so the head maps one to one. The same weights in Hugging
Face form (`model.safetensors`) use the same keys; a state dict whose front end already carries
transformers names under `m_ssl.model.` (what AntiDeepfake's convert_to_transformers.py writes)
is accepted too.

Key mapping fairseq -> transformers follows transformers' own wav2vec2 conversion script and
AntiDeepfake's convert_to_transformers.py (the conv stack in `layer_norm` extractor mode, i.e.
`conv_layers.N.0` conv + `conv_layers.N.2.1` layer norm; weight-normed positional conv as
parametrizations). fairseq's pre-training heads (quantizer, project_q, final_proj) have no place
in a Wav2Vec2Model and are dropped and reported. MMS language adapters are refused unless
dropped explicitly. Every other unknown, missing or mis-shaped key is an error that names it.

Files are read with `torch.load(weights_only=True)` or safetensors only: a pickle that would
run code is refused before anything in it executes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from deepfake_rl.errors import DataError, require_file
from deepfake_rl.models.detector import Detector
from deepfake_rl.models.spec import ModelSpec

SSL_PREFIX = "m_ssl.model."
HEAD_PREFIX = "proj_fc."
FRONTEND, HEAD = "frontend.", "head."
OPTIONAL = ("masked_spec_embed",)  # only used by SSL pre-training; kept at its initial value if absent
PRETRAINING_ONLY = ("quantizer.", "project_q.", "final_proj.")
ADAPTER = re.compile(r"^encoder\.layers\.\d+\.adapter_layer\.")

# (fairseq key, transformers Wav2Vec2Model key); {n} layer index, {p} weight|bias, {a} attention projection.
KEY_RULES: tuple[tuple[str, str], ...] = (
    ("feature_extractor.conv_layers.{n}.0.{p}", "feature_extractor.conv_layers.{n}.conv.{p}"),
    ("feature_extractor.conv_layers.{n}.2.1.{p}", "feature_extractor.conv_layers.{n}.layer_norm.{p}"),
    ("layer_norm.{p}", "feature_projection.layer_norm.{p}"),
    ("post_extract_proj.{p}", "feature_projection.projection.{p}"),
    ("encoder.pos_conv.0.weight_g", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    ("encoder.pos_conv.0.weight_v", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    ("encoder.pos_conv.0.bias", "encoder.pos_conv_embed.conv.bias"),
    ("encoder.layer_norm.{p}", "encoder.layer_norm.{p}"),
    ("encoder.layers.{n}.self_attn.{a}.{p}", "encoder.layers.{n}.attention.{a}.{p}"),
    ("encoder.layers.{n}.self_attn_layer_norm.{p}", "encoder.layers.{n}.layer_norm.{p}"),
    ("encoder.layers.{n}.final_layer_norm.{p}", "encoder.layers.{n}.final_layer_norm.{p}"),
    ("encoder.layers.{n}.fc1.{p}", "encoder.layers.{n}.feed_forward.intermediate_dense.{p}"),
    ("encoder.layers.{n}.fc2.{p}", "encoder.layers.{n}.feed_forward.output_dense.{p}"),
    ("mask_emb", "masked_spec_embed"),
)
_FIELDS = {"n": r"\d+", "p": "weight|bias", "a": "q_proj|k_proj|v_proj|out_proj"}

# The released checkpoints' front ends (AntiDeepfake models/W2V_configs.py): plain dicts in the form
# of spec.DEFAULT_MODELS, ready for a config file. All use stable layer norm, layer-normed convs
# with bias and the wav2vec2 conv kernels/strides, as ModelSpec builds them.
ANTIDEEPFAKE_MODELS: dict[str, dict[str, Any]] = {
    key: {"label": label, "stands_for": f"AntiDeepfake {key}.ckpt (post-trained {label})",
          "hidden_size": hidden, "num_layers": layers, "num_heads": 16, "intermediate_size": 4 * hidden,
          "conv_dim": [512] * 7, "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16,
          "num_codevector_groups": 2, "num_codevectors_per_group": 320, "codevector_dim": final_dim,
          "proj_codevector_dim": final_dim, "num_negatives": 100, "hidden_dropout": 0.0,
          "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": dropout_input,
          "layerdrop": 0.0}
    for key, label, hidden, layers, final_dim, dropout_input in (
        ("xlsr_2b", "XLS-R-2B", 1920, 48, 1024, 0.1),
        ("mms_1b", "MMS-1B", 1280, 48, 1024, 0.1),
        ("mms_300m", "MMS-300M", 1024, 24, 768, 0.0),
    )
}


class ConversionError(DataError):
    """A checkpoint cannot be imported; the message names the file and the offending keys."""


@dataclass
class ImportReport:
    """What an import did besides the one-to-one mapping."""

    source: str
    layout: str                                              # "fairseq" or "transformers" front-end names
    ignored: list[str] = field(default_factory=list)         # pre-training-only weights (not in a detector)
    dropped_adapters: list[str] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)       # optional weights absent from the file


def antideepfake_spec(key: str) -> ModelSpec:
    """The full-size spec of a released AntiDeepfake checkpoint (xlsr_2b, mms_1b, mms_300m)."""
    if key not in ANTIDEEPFAKE_MODELS:
        raise KeyError(f"unknown AntiDeepfake model {key!r}; known: {sorted(ANTIDEEPFAKE_MODELS)}")
    return ModelSpec.from_config(key, ANTIDEEPFAKE_MODELS[key])


# --- key mapping -----------------------------------------------------------------------------------

def _pattern(template: str) -> re.Pattern[str]:
    text = re.escape(template)
    for name, alternatives in _FIELDS.items():
        text = text.replace(re.escape("{" + name + "}"), f"(?P<{name}>{alternatives})")
    return re.compile(f"^{text}$")


_TO_HF = [(_pattern(fairseq), hf) for fairseq, hf in KEY_RULES]
_TO_FAIRSEQ = [(_pattern(hf), fairseq) for fairseq, hf in KEY_RULES]


def _rename(key: str, rules: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, template in rules:
        match = pattern.match(key)
        if match:
            return template.format(**match.groupdict())
    return None


def _map_keys(state: Mapping[str, torch.Tensor], rules: list[tuple[re.Pattern[str], str]], what: str
              ) -> dict[str, torch.Tensor]:
    renamed, unknown = {}, []
    for key, tensor in state.items():
        new = _rename(key, rules)
        if new is None:
            unknown.append(key)
        else:
            renamed[new] = tensor
    if unknown:
        raise ConversionError(f"{len(unknown)} {what} keys have no mapping: {_names(unknown)}")
    return renamed


def fairseq_to_transformers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fairseq wav2vec2 front-end keys -> transformers Wav2Vec2Model keys (all keys must map)."""
    return _map_keys(state, _TO_HF, "fairseq front-end")


def transformers_to_fairseq(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse: transformers Wav2Vec2Model keys -> fairseq wav2vec2 keys (all keys must map)."""
    return _map_keys(state, _TO_FAIRSEQ, "transformers front-end")


def _names(keys: list[str], shown: int = 12) -> str:
    return ", ".join(sorted(keys)[:shown]) + (f" ... ({len(keys) - shown} more)" if len(keys) > shown else "")


# --- reading ---------------------------------------------------------------------------------------

def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .ckpt/.pt (torch.load with weights_only=True) or .safetensors file.

    A torch file is recognised by its magic (zip archive or pickle), anything else is read as
    safetensors. A `{"model": ...}` or `{"state_dict": ...}` wrapper is unwrapped."""
    path = require_file(path, "checkpoint")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK") or magic[:1] == b"\x80":
        try:
            loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # the restricted unpickler raises UnpicklingError, RuntimeError, ...
            raise ConversionError(f"{path}: refused: not a plain tensor state dict; torch.load(weights_only=True) "
                                  f"rejected it ({str(error).splitlines()[0][:300]}). Arbitrary pickles are "
                                  "never loaded.") from None
    else:
        try:
            loaded = load_file(str(path))
        except Exception as error:
            raise ConversionError(f"{path}: neither a torch checkpoint nor a safetensors file ({error})") from None
    for wrapper in ("model", "state_dict"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(wrapper), Mapping):
            loaded = loaded[wrapper]
    if not isinstance(loaded, Mapping):
        raise ConversionError(f"{path}: expected a state dict, found {type(loaded).__name__}")
    not_tensors = [str(key) for key, value in loaded.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ConversionError(f"{path}: entries that are not tensors: {_names(not_tensors)}")
    return dict(loaded)


# --- AntiDeepfake <-> Detector ---------------------------------------------------------------------

def antideepfake_to_detector_state(state: Mapping[str, torch.Tensor], source: str, *, drop_adapters: bool = False
                                   ) -> tuple[dict[str, torch.Tensor], ImportReport]:
    """An AntiDeepfake state dict as Detector state (`frontend.*`, `head.*`) plus a report."""
    ssl = {key[len(SSL_PREFIX):]: value for key, value in state.items() if key.startswith(SSL_PREFIX)}
    head = {key[len(HEAD_PREFIX):]: value for key, value in state.items() if key.startswith(HEAD_PREFIX)}
    other = [key for key in state if not key.startswith((SSL_PREFIX, HEAD_PREFIX))]
    if other:
        raise ConversionError(f"{source}: keys outside {SSL_PREFIX}* and {HEAD_PREFIX}* (not an AntiDeepfake "
                              f"wav2vec2 detector, e.g. an AASIST or HuBERT back end?): {_names(other)}")
    if "post_extract_proj.weight" in ssl:
        layout = "fairseq"
    elif "feature_projection.projection.weight" in ssl:
        layout = "transformers"
    else:
        raise ConversionError(f"{source}: no wav2vec2 front end under {SSL_PREFIX} (neither {SSL_PREFIX}"
                              f"post_extract_proj.weight nor {SSL_PREFIX}feature_projection.projection.weight)")
    report = ImportReport(source=source, layout=layout)
    adapters = sorted(key for key in ssl if ADAPTER.match(key))
    if adapters and not drop_adapters:
        raise ConversionError(
            f"{source}: {len(adapters)} MMS language-adapter weights ({_names(adapters, 3)}): this is an "
            "adapter-carrying MMS model (e.g. mms-1b-all), and our Wav2Vec2Model front end has no adapters. "
            "Refusing rather than silently changing what the model computes; pass drop_adapters=True only if "
            "the adapters were unused (e.g. identity-initialised and never trained).")
    report.dropped_adapters = adapters
    report.ignored = sorted(SSL_PREFIX + key for key in ssl if key.startswith(PRETRAINING_ONLY))
    kept = {key: value for key, value in ssl.items()
            if key not in adapters and not key.startswith(PRETRAINING_ONLY)}
    try:
        frontend = fairseq_to_transformers(kept) if layout == "fairseq" else dict(kept)
    except ConversionError as error:
        raise ConversionError(f"{source}: {error}") from None
    weight = head.get("weight")
    if set(head) != {"weight", "bias"} or weight is None or weight.ndim != 2 or weight.shape[0] != 2:
        shapes = {key: tuple(value.shape) for key, value in head.items()}
        raise ConversionError(f"{source}: back end {HEAD_PREFIX}* is {shapes or 'absent'}; only AntiDeepfake's "
                              "Linear(D, 2) head (weight [2, D], bias [2]: index 0 fake, 1 real) maps onto our "
                              "detector's head")
    detector_state = {FRONTEND + key: value for key, value in frontend.items()}
    detector_state.update({HEAD + key: value for key, value in head.items()})
    return detector_state, report


def detector_to_antideepfake(detector: Detector) -> dict[str, torch.Tensor]:
    """Our detector in AntiDeepfake's layout: `m_ssl.model.<fairseq key>` and `proj_fc.*`."""
    state = {SSL_PREFIX + key: value for key, value in
             transformers_to_fairseq(detector.frontend.state_dict()).items()}
    state.update({HEAD_PREFIX + key: value for key, value in detector.head.state_dict().items()})
    return state


def _display(key: str, layout: str) -> str:
    """A detector key, with the checkpoint's own name beside it when that differs (fairseq layout)."""
    original = _rename(key[len(FRONTEND):], _TO_FAIRSEQ) if key.startswith(FRONTEND) and layout == "fairseq" else None
    return f"{key} ({SSL_PREFIX}{original})" if original else key


def load_into_detector(detector: Detector, state: Mapping[str, torch.Tensor], report: ImportReport) -> None:
    """Strict load with every missing, unexpected or mis-shaped key named (optional ones defaulted)."""
    expected = detector.state_dict()
    optional = {FRONTEND + key for key in OPTIONAL}
    name = lambda key: _display(key, report.layout)  # noqa: E731
    missing = [name(key) for key in expected if key not in state and key not in optional]
    unexpected = [name(key) for key in state if key not in expected]
    shapes = [f"{name(key)}: checkpoint {tuple(value.shape)} vs model {tuple(expected[key].shape)}"
              for key, value in state.items() if key in expected and value.shape != expected[key].shape]
    problems = ([f"missing {_names(missing)}"] if missing else []) + \
               ([f"unexpected {_names(unexpected)}"] if unexpected else []) + \
               ([f"shape mismatch {'; '.join(shapes[:6])}"] if shapes else [])
    if problems:
        raise ConversionError(f"{report.source}: checkpoint does not fit model {detector.spec.key!r} "
                              f"({detector.spec.num_layers} layers, hidden {detector.spec.hidden_size}): "
                              + " | ".join(problems))
    report.defaulted = sorted(key for key in optional if key in expected and key not in state)
    detector.load_state_dict({**{key: expected[key] for key in report.defaulted}, **state}, strict=True)


def import_antideepfake(path: str | Path, spec: ModelSpec, *, freeze: str = "none", seed: int = 0,
                        drop_adapters: bool = False) -> tuple[Detector, ImportReport]:
    """A Detector of `spec` carrying the weights of an AntiDeepfake checkpoint (.ckpt or .safetensors).

    Save it in our format with `checkpoint.save_detector` to use it as a post-trained model."""
    state, report = antideepfake_to_detector_state(read_state_dict(path), str(path), drop_adapters=drop_adapters)
    detector = Detector(spec, freeze=freeze, seed=seed)
    load_into_detector(detector, state, report)
    detector.source_checkpoint = str(path)
    return detector, report
