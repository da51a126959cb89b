"""AntiDeepfake checkpoint import: fairseq <-> transformers key mapping, refusals, no unpickling."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from deepfake_rl.models import Detector, ModelSpec, load_detector, save_detector
from deepfake_rl.models.convert import (ANTIDEEPFAKE_MODELS, ConversionError, antideepfake_spec,
                                        detector_to_antideepfake, fairseq_to_transformers, import_antideepfake,
                                        read_state_dict, transformers_to_fairseq)

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64,
        "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4,
        "num_codevector_groups": 2, "num_codevectors_per_group": 16, "codevector_dim": 16,
        "proj_codevector_dim": 16, "num_negatives": 10}
# fairseq's pre-training heads, present in the released .ckpt files but not in a Wav2Vec2Model.
PRETRAINING = {"quantizer.vars": (1, 32, 8), "quantizer.weight_proj.weight": (32, 16),
               "quantizer.weight_proj.bias": (32,), "project_q.weight": (16, 16), "project_q.bias": (16,),
               "final_proj.weight": (16, 32), "final_proj.bias": (16,)}


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return ModelSpec.from_config("tiny", TINY)


@pytest.fixture(scope="module")
def source(spec: ModelSpec) -> Detector:
    detector = Detector(spec, seed=7).eval()
    with torch.no_grad():   # make the head and norms non-trivial so a dropped mapping would show
        for parameter in detector.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    return detector


def antideepfake_state(detector: Detector) -> dict[str, torch.Tensor]:
    """What a released .ckpt holds: fairseq front end under m_ssl.model., proj_fc, pre-training heads."""
    state = detector_to_antideepfake(detector)
    state.update({f"m_ssl.model.{key}": torch.randn(shape) for key, shape in PRETRAINING.items()})
    return state


def outputs(detector: Detector) -> torch.Tensor:
    waves = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return detector.eval()(waves, torch.tensor([8000, 5000])).logits


def test_fairseq_names_and_inverse(source: Detector) -> None:
    state = detector_to_antideepfake(source)
    for key in ("m_ssl.model.feature_extractor.conv_layers.0.0.weight",
                "m_ssl.model.feature_extractor.conv_layers.6.2.1.bias", "m_ssl.model.post_extract_proj.weight",
                "m_ssl.model.layer_norm.weight", "m_ssl.model.encoder.pos_conv.0.weight_g",
                "m_ssl.model.encoder.pos_conv.0.weight_v", "m_ssl.model.encoder.layers.1.self_attn.k_proj.weight",
                "m_ssl.model.encoder.layers.0.self_attn_layer_norm.bias", "m_ssl.model.encoder.layers.0.fc1.weight",
                "m_ssl.model.encoder.layer_norm.weight", "m_ssl.model.mask_emb", "proj_fc.weight", "proj_fc.bias"):
        assert key in state, key
    frontend = source.frontend.state_dict()
    back = fairseq_to_transformers(transformers_to_fairseq(frontend))
    assert back.keys() == frontend.keys() and all(torch.equal(back[k], frontend[k]) for k in frontend)


@pytest.mark.parametrize("kind", ["ckpt", "safetensors"])
def test_import_reproduces_outputs(tmp_path: Path, spec: ModelSpec, source: Detector, kind: str) -> None:
    path = tmp_path / f"model.{kind}"
    state = antideepfake_state(source)
    if kind == "ckpt":
        torch.save(state, path)
    else:
        save_file({key: value.contiguous() for key, value in state.items()}, str(path))
    imported, report = import_antideepfake(path, spec, seed=99)
    assert torch.equal(outputs(imported), outputs(source))
    assert report.layout == "fairseq" and report.dropped_adapters == [] and report.defaulted == []
    assert report.ignored == sorted(f"m_ssl.model.{key}" for key in PRETRAINING)
    save_detector(imported, tmp_path / "ours.safetensors")   # and onwards into our own format
    assert torch.equal(outputs(load_detector(tmp_path / "ours.safetensors")), outputs(source))


def test_transformers_layout_and_wrapped_state(tmp_path: Path, spec: ModelSpec, source: Detector) -> None:
    state = {f"m_ssl.model.{key}": value for key, value in source.frontend.state_dict().items()
             if key != "masked_spec_embed"}
    state.update({"proj_fc.weight": source.head.weight, "proj_fc.bias": source.head.bias})
    torch.save({"model": state}, tmp_path / "full_model.pt")
    imported, report = import_antideepfake(tmp_path / "full_model.pt", spec)
    assert report.layout == "transformers" and report.defaulted == ["frontend.masked_spec_embed"]
    assert torch.equal(outputs(imported), outputs(source))


def save_variant(tmp_path: Path, source: Detector, change) -> Path:
    state = antideepfake_state(source)
    change(state)
    torch.save(state, tmp_path / "variant.ckpt")
    return tmp_path / "variant.ckpt"


def test_unknown_missing_and_misshaped_keys_are_named(tmp_path: Path, spec: ModelSpec, source: Detector) -> None:
    path = save_variant(tmp_path, source, lambda s: s.update({"m_ssl.model.encoder.extra.weight": torch.zeros(1)}))
    with pytest.raises(ConversionError, match=r"no mapping: encoder\.extra\.weight"):
        import_antideepfake(path, spec)
    path = save_variant(tmp_path, source, lambda s: s.pop("m_ssl.model.encoder.layers.1.fc2.bias"))
    with pytest.raises(ConversionError, match=r"missing frontend\.encoder\.layers\.1\.feed_forward\.output_dense\.bias "
                                              r"\(m_ssl\.model\.encoder\.layers\.1\.fc2\.bias\)"):
        import_antideepfake(path, spec)
    complete = save_variant(tmp_path, source, lambda s: None)
    deeper = ModelSpec.from_config("deeper", {**TINY, "num_layers": 3})
    with pytest.raises(ConversionError,
                       match=r"does not fit model 'deeper' \(3 layers.*missing frontend\.encoder\.layers\.2\."):
        import_antideepfake(complete, deeper)
    wider = ModelSpec.from_config("wider", {**TINY, "intermediate_size": 128})
    with pytest.raises(ConversionError, match=r"shape mismatch .*intermediate_dense\.weight \(m_ssl\.model\.encoder"
                                              r"\.layers\.0\.fc1\.weight\): checkpoint \(64, 32\)"):
        import_antideepfake(complete, wider)
    path = save_variant(tmp_path, source, lambda s: s.update({"aasist.weight": torch.zeros(1)}))
    with pytest.raises(ConversionError, match=r"keys outside .*aasist\.weight"):
        import_antideepfake(path, spec)


def test_head_of_another_shape_is_rejected(tmp_path: Path, spec: ModelSpec, source: Detector) -> None:
    path = save_variant(tmp_path, source, lambda s: s.update({"proj_fc.weight": torch.zeros(3, 32),
                                                              "proj_fc.bias": torch.zeros(3)}))
    with pytest.raises(ConversionError, match=r"back end proj_fc\.\* is .*\(3, 32\).*Linear\(D, 2\)"):
        import_antideepfake(path, spec)


def test_mms_adapters_refused_unless_dropped(tmp_path: Path, spec: ModelSpec, source: Detector) -> None:
    adapters = {f"m_ssl.model.encoder.layers.{i}.adapter_layer.{name}": torch.zeros(1, 4)
                for i in range(2) for name in ("W_a", "W_b", "b_a", "b_b", "ln_W", "ln_b")}
    path = save_variant(tmp_path, source, lambda s: s.update(adapters))
    with pytest.raises(ConversionError, match=r"12 MMS language-adapter weights .*drop_adapters=True"):
        import_antideepfake(path, spec)
    imported, report = import_antideepfake(path, spec, drop_adapters=True)
    assert report.dropped_adapters == sorted(key.removeprefix("m_ssl.model.") for key in adapters)
    assert torch.equal(outputs(imported), outputs(source))


class Exploit:
    """Unpickling this runs a shell command (touches a file): what weights_only must refuse."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_code_executing_pickle_is_refused(tmp_path: Path, spec: ModelSpec, writer: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    payload = {"proj_fc.weight": torch.zeros(2, 32), "payload": Exploit(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(payload, handle, protocol=2)
    with pytest.raises(ConversionError, match="refused: not a plain tensor state dict"):
        import_antideepfake(path, spec)
    with pytest.raises(ConversionError, match="refused"):
        read_state_dict(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Exploit(tmp_path / "live")))   # the payload is live: plain unpickling runs it
    assert (tmp_path / "live").exists()


def test_released_specs_build() -> None:
    assert set(ANTIDEEPFAKE_MODELS) == {"xlsr_2b", "mms_1b", "mms_300m"}
    spec = antideepfake_spec("xlsr_2b")
    assert (spec.hidden_size, spec.num_layers, spec.intermediate_size) == (1920, 48, 7680)
    assert spec.to_wav2vec2_config().do_stable_layer_norm
