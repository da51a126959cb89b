"""config/paper.yaml on miniature replicas of the real corpora and tiny fake checkpoints: the config
validates once its placeholders are replaced, the dry run lists the paper's grid, and the real-corpus
import, segmentation (mp3/m4a/mp4 included) and checkpoint imports run through the rules."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml
from safetensors.torch import save_file

from deepfake_rl.config import ConfigError, load_config, merge, validate_config
from deepfake_rl.data.corpora import CorpusError
from deepfake_rl.data.manifest import read_manifest
from deepfake_rl.data.real_corpus import import_domain, loader_proportions
from deepfake_rl.data.segment_stage import segment_corpus
from deepfake_rl.models import Detector, ModelSpec, load_detector, load_frontend_into
from deepfake_rl.models.convert import antideepfake_spec, detector_to_antideepfake
from deepfake_rl.models.import_checkpoint import (CheckpointImportError, frontend_state, import_posttrained,
                                                  import_pretrained)
from tests.conftest import REPO
from tests.test_corpora import add23_replica, asv19_replica, dfe24_replica, encoded, wav, write_csv

PAPER = REPO / "config" / "paper.yaml"
TINY_MODEL = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64, "conv_dim": [16] * 7,
              "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4, "num_codevector_groups": 2,
              "num_codevectors_per_group": 16, "codevector_dim": 16, "proj_codevector_dim": 16, "num_negatives": 10}
TABLE1_XLSR = ["none", "sft", "grpo_s", "grpo", "sft_grpo_s", "sft_grpo", "grpo_beta0", "grpo_beta1", "grpo_noneg",
               "pre_sft", "pre_grpo_s", "pre_grpo"]


def paper() -> dict:
    with open(PAPER, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --- replicas ------------------------------------------------------------------------------------------

def replicas(base: Path) -> dict[str, Path]:
    """One miniature copy of every corpus layout config/paper.yaml names, keyed by domain."""
    roots = {"dfe24": dfe24_replica(base / "DFE24"), "add23": add23_replica(base / "testR2"),
             "asv19dev": asv19_replica(base / "LA")}
    for_root = base / "FakeOrReal"
    for label in ("real", "fake"):
        wav(for_root / "for-norm" / "testing" / label / "file1.wav")
    roots["for"] = for_root
    dv = base / "DEEP-VOICE"
    wav(dv / "KAGGLE" / "AUDIO" / "REAL" / "a.wav", seconds=3.0, rate=48000, channels=2)
    wav(dv / "KAGGLE" / "AUDIO" / "FAKE" / "a-to-b.wav", seconds=3.0, rate=48000, channels=2)
    roots["dv"] = dv
    itw = base / "release_in_the_wild"
    wav(itw / "0.wav")
    wav(itw / "1.wav", rate=44100)
    write_csv(itw / "meta.csv", ["file", "speaker", "label"], [["0.wav", "A", "spoof"], ["1.wav", "B", "bona-fide"]])
    roots["itw"] = itw
    return roots


def fake_checkpoints(base: Path) -> dict[str, dict[str, str]]:
    """Tiny AntiDeepfake-layout .ckpt files (torch.save of a plain state dict) and a Hugging Face style
    pre-trained front end (wav2vec2.* keys, old weight_g/weight_v names, a quantizer to drop)."""
    base.mkdir(parents=True, exist_ok=True)
    spec = ModelSpec.from_config("tiny", TINY_MODEL)
    paths: dict[str, dict[str, str]] = {}
    for index, model in enumerate(("xlsr_2b", "mms_1b", "mms_300m")):
        detector = Detector(spec, seed=index)
        torch.save(detector_to_antideepfake(detector), base / f"{model}.ckpt")
        paths[model] = {"posttrained": str(base / f"{model}.ckpt")}
    frontend = Detector(spec, seed=9).frontend.state_dict()
    renamed = {key.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): value for key, value in frontend.items()}
    hf = {f"wav2vec2.{key}": value.contiguous() for key, value in renamed.items()}
    hf["quantizer.codevectors"] = torch.zeros(1, 32, 8)
    hf["project_hid.weight"] = torch.zeros(16, 32)
    save_file(hf, str(base / "xlsr_pretrained.safetensors"))
    paths["xlsr_2b"]["pretrained"] = str(base / "xlsr_pretrained.safetensors")
    return paths


def paths_overlay(path: Path, roots: dict[str, Path], checkpoints: dict[str, dict[str, str]], **extra) -> Path:
    """What a user's my_paths.yaml holds: every placeholder of config/paper.yaml replaced."""
    overlay = {"corpus": {"domains": {domain: {"root": str(root)} for domain, root in roots.items()}},
               "checkpoints": checkpoints, **extra}
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("paper")
    roots, checkpoints = replicas(base / "corpora"), fake_checkpoints(base / "checkpoints")
    return {"base": base, "roots": roots, "checkpoints": checkpoints,
            "paths": paths_overlay(base / "my_paths.yaml", roots, checkpoints)}


def snakemake(workdir: Path, *args: str, configs: list[Path], check: bool = True) -> str:
    """Snakemake on the repository's Snakefile in `workdir` (which has no config/config.yaml unless a test
    puts one there), --configfile last: it takes several values."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args,
               "--configfile", *map(str, configs)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)   # generous: a loaded 2-core machine runs these imports slowly
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{output[-6000:]}")
    return output


def job_counts(output: str) -> dict[str, int]:
    block = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.MULTILINE)}


# --- the config ----------------------------------------------------------------------------------------

def test_paper_config_holds_the_papers_grid_and_recipe() -> None:
    config = paper()
    assert config["grid"]["xlsr_2b"] == TABLE1_XLSR
    assert config["grid"]["mms_1b"] == config["grid"]["mms_300m"] == ["none", "sft", "grpo_s", "grpo"]
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as handle:
        default = yaml.safe_load(handle)
    for name in TABLE1_XLSR:   # same method names, same meaning as the embedded default
        assert config["methods"][name] == default["methods"][name], name
    for model in ("xlsr_2b", "mms_1b", "mms_300m"):
        assert ModelSpec.from_config(model, config["models"][model]) == antideepfake_spec(model)
    finetune = config["finetune"]
    assert (finetune["lr"], finetune["epochs"], finetune["max_steps"], finetune["valid_every"]) == \
        (1e-6, 10, 50000, 20000)
    assert finetune["seeds"] == [1, 2, 3] and finetune["freeze"] == "none" and finetune["valid_set"] == "asv19dev"
    assert finetune["crop_seconds"] == [10, 13] and config["device"] == "cuda"     # the authors' 10-13 s crops
    # speechbrain's WarmAndExpDecayLRSchedule as the authors' fine-tuning configs set it (issue 15 item 1)
    assert finetune["lr_schedule"] == {"kind": "warm_exp_decay", "n_warmup_steps": 80000, "total_steps": 50000,
                                       "decay_factor": 0.01}
    assert (finetune["max_batch_seconds"], finetune["rawboost"], finetune["precision"]) == (100, True, "bf16")
    assert config["drift"]["reference"] == "asv19dev" and "pretrain" not in config and "posttrain" not in config
    assert {d["max_seconds"] for n, d in config["datasets"].items() if n.startswith("dfe24_") and n != "dfe24_train"} \
        == {4, 10, 13, 30, 50}
    assert config["datasets"]["dv"]["random_seconds"] == [1.5, 15]
    placeholders = [d["root"] for d in config["corpus"]["domains"].values()] + \
        [p for entry in config["checkpoints"].values() for p in entry.values()]
    assert all(p.startswith("/path/to/") for p in placeholders)


def test_placeholders_merging_and_wrong_splits_are_config_errors(setup) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(PAPER)
    assert "corpus.domains.dfe24.root: '/path/to/Deepfake-Eval-2024' is a placeholder" in str(error.value)
    assert "checkpoints.xlsr_2b.pretrained" in str(error.value)
    config = load_config(PAPER, setup["paths"])  # the user's paths make it valid
    assert config["corpus"]["kind"] == "real"
    with pytest.raises(ConfigError, match="merged over config/config.yaml. Give it without config/config.yaml"):
        load_config(REPO / "config" / "config.yaml", PAPER, setup["paths"])   # merged over the default
    broken = merge(config, {"datasets": {"dfe24_valid": {"domain": "dfe24", "proportion": "valid"}},
                            "corpus": {"domains": {"for": {"options": {"versoin": "for-norm"}}}}})
    del broken["checkpoints"]["xlsr_2b"]["pretrained"]
    with pytest.raises(ConfigError) as error:
        validate_config(broken)
    message = str(error.value)
    assert "datasets.dfe24_valid.proportion: domain 'dfe24' has no 'valid' part" in message
    assert "the paper validates on ASVspoof 2019 LA dev" in message
    assert "corpus.domains.for.options.versoin: not an option of loader 'for'" in message
    assert "checkpoints.xlsr_2b.pretrained: needed by grid.xlsr_2b methods ['pre_sft', 'pre_grpo_s', 'pre_grpo']" \
        in message
    assert loader_proportions("asv19la", {"parts": ["dev"]}) == ("valid",)
    assert loader_proportions("for") == ("test",) and loader_proportions("dfe24") == ("train", "test")


# --- the DAG -------------------------------------------------------------------------------------------

def test_dry_run_lists_the_papers_jobs(setup, tmp_path) -> None:
    counts = job_counts(snakemake(tmp_path, "-n", configs=[PAPER, setup["paths"]]))
    trained = (len(TABLE1_XLSR) - 1) + 3 + 3                # 11 + 3 + 3 fine-tuned methods
    assert counts["finetune"] == 3 * trained == 51          # x 3 seeds
    assert counts["score"] == trained and counts["score_initial"] == 3   # one job per (model, method)
    assert counts["import_domain"] == 6 and counts["segment"] == 11
    assert counts["import_checkpoint"] == 4                 # 3 post-trained detectors + XLS-R-2B's front end
    for absent in ("build_domain", "pretrain", "posttrain", "feature_cache", "feature_cache_tests", "table2"):
        assert absent not in counts, absent
    assert counts["table1"] == counts["drift"] == counts["all"] == 1 and counts["drift_figure"] == 2


def test_the_documented_command_in_a_checkout_is_not_merged_over_the_default(setup, tmp_path) -> None:
    """In a checkout, config/config.yaml exists beside the Snakefile's `configfile:` directive; Snakemake
    merges --configfile files over it unless the Snakefile reads it only when no --configfile is given."""
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    output = snakemake(tmp_path, "-n", configs=[PAPER, setup["paths"]], check=False)
    assert "was merged over config/config.yaml" not in output
    assert job_counts(output)["import_domain"] == 6


# --- running the import jobs ---------------------------------------------------------------------------

def test_import_segment_and_checkpoints_run_through_the_rules(setup, tmp_path) -> None:
    overlay = tmp_path / "tiny_models.yaml"   # the checkpoints are tiny: so are the models' specs
    overlay.write_text(yaml.safe_dump({"models": {m: dict(TINY_MODEL) for m in ("xlsr_2b", "mms_1b", "mms_300m")},
                                       "device": "cpu"}), encoding="utf-8")
    targets = ["data/stores/add23.h5", "data/stores/dfe24_4s.h5", "data/models/mms_300m/posttrained.safetensors",
               "data/models/xlsr_2b/pretrained.safetensors"]
    snakemake(tmp_path, "--cores", "2", *targets, configs=[PAPER, setup["paths"], overlay])
    corpus = tmp_path / "data" / "corpus" / "add23"
    assert (corpus / "root").resolve() == setup["roots"]["add23"].resolve()
    manifest = read_manifest(corpus / "manifest.csv")
    assert manifest["Path"].str.startswith("root/wav/").all() and len(manifest) == 2
    assert pd.read_csv(corpus / "skipped.csv").empty
    with h5py.File(tmp_path / "data" / "stores" / "add23.h5", "r") as store:
        assert sorted(store["label"][()]) == [0, 1] and store.attrs["sample_rate"] == 16000
    with h5py.File(tmp_path / "data" / "stores" / "dfe24_4s.h5", "r") as store:   # wav, m4a and mp4 (test part)
        ids = set(store["source_id"].asstr()[()])
    assert ids == {"DFE24-clipB.wav", "DFE24-clipD.m4a", "DFE24-clipE.mp4"}
    imported = load_detector(tmp_path / "data" / "models" / "mms_300m" / "posttrained.safetensors")
    spec = ModelSpec.from_config("mms_300m", TINY_MODEL)
    source = Detector(spec, seed=2)   # what fake_checkpoints saved as mms_300m.ckpt
    for key, value in source.state_dict().items():
        if key != "frontend.masked_spec_embed":
            assert torch.equal(imported.state_dict()[key], value), key
    detector = Detector(ModelSpec.from_config("xlsr_2b", TINY_MODEL), seed=0)
    load_frontend_into(detector, tmp_path / "data" / "models" / "xlsr_2b" / "pretrained.safetensors")
    expected = Detector(spec, seed=9).frontend.state_dict()
    assert all(torch.equal(detector.frontend.state_dict()[k], v) for k, v in expected.items()
               if k != "masked_spec_embed")
    record = (tmp_path / "data" / "models" / "xlsr_2b" / "pretrained_import.json").read_text()
    assert "quantizer.codevectors" in record and "project_hid.weight" in record
    # the raw corpus is protected: touching it reruns nothing
    (setup["roots"]["add23"] / "label.txt").touch()
    setup["roots"]["add23"].touch()
    assert "Nothing to be done" in snakemake(tmp_path, "-n", *targets, configs=[PAPER, setup["paths"], overlay])


def test_skip_policy_lists_bad_files_and_segmentation_decodes_compressed_audio(tmp_path) -> None:
    root = add23_replica(tmp_path / "testR2", extra=["silent.wav genuine", "clip.mp3 fake"])
    sf.write(root / "wav" / "silent.wav", np.zeros(8000, dtype=np.float32), 16000)   # a valid header, no signal
    encoded(root / "wav" / "clip.mp3", seconds=1.2)
    with pytest.raises(CorpusError, match=r"1 file\(s\) cannot be decoded .*silent\.wav: audio is silent"):
        import_domain("add23", root, tmp_path / "strict", on_bad_file="error")
    with open(root / "label.txt", "a", encoding="utf-8") as handle:
        handle.write("gone.wav fake\n")
    record = import_domain("add23", root, tmp_path / "corpus", on_bad_file="skip")
    skipped = pd.read_csv(tmp_path / "corpus" / "skipped.csv")
    reasons = dict(zip(skipped["entry"].str.extract(r"(\w+\.wav)")[0], skipped["reason"]))
    assert "not found" in reasons["gone.wav"] and "decode check: audio is silent" in reasons["silent.wav"]
    assert record["n_items"] == 3 and record["n_skipped"] == 2
    count = segment_corpus(tmp_path / "corpus" / "manifest.csv", tmp_path / "add23.h5", proportion="test",
                           dataset="add23")
    assert count == 3
    with h5py.File(tmp_path / "add23.h5", "r") as store:
        durations = dict(zip(store["id"].asstr()[()], store["duration"][()]))
    assert durations["ADD23-clip.mp3"] == pytest.approx(1.2, abs=0.1)


def test_fairseq_pickles_are_refused_with_conversion_advice(tmp_path) -> None:
    import argparse

    path = tmp_path / "xlsr2_2B_1000k.pt"
    torch.save({"args": argparse.Namespace(arch="wav2vec2"), "model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointImportError, match="convert_wav2vec2_original_pytorch_checkpoint_to_pytorch"):
        import_pretrained(path, "xlsr_2b", copy.deepcopy(TINY_MODEL), tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_front_end_layouts_and_a_checkpoint_of_another_size(tmp_path) -> None:
    spec = ModelSpec.from_config("tiny", TINY_MODEL)
    reference = Detector(spec, seed=4)
    antideepfake = detector_to_antideepfake(reference)              # m_ssl.model.<fairseq key> + proj_fc
    fairseq = {k.removeprefix("m_ssl.model."): v for k, v in antideepfake.items() if k.startswith("m_ssl.")}
    fairseq["quantizer.vars"] = torch.zeros(1, 32, 8)
    expected = reference.frontend.state_dict()
    for state in (antideepfake, fairseq):
        frontend, report = frontend_state(state, "x")
        assert report.layout == "fairseq"
        assert all(torch.equal(frontend[k], v) for k, v in expected.items() if k != "masked_spec_embed")
    assert frontend_state(fairseq, "x")[1].ignored == ["quantizer.vars"]
    torch.save(antideepfake, tmp_path / "mms_300m.ckpt")
    with pytest.raises(CheckpointImportError, match=r"hidden size 32 with 2 transformer layers, but models\.xlsr_2b "
                                                    r"is hidden_size 1920, num_layers 48"):
        import_posttrained(tmp_path / "mms_300m.ckpt", "xlsr_2b", paper()["models"]["xlsr_2b"],
                           tmp_path / "out.safetensors")   # fails before building a 2B-parameter detector
