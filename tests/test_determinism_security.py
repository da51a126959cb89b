"""Determinism and security (issue 10, items 3 and 4).

3. The same seed and config give bit-identical scores on CPU: fine-tuning then scoring, twice. Across
   machines (issue 17 item 3): every job caps its kernel libraries at AVX2 before they load.
4. Nothing is unpickled (the malicious-pickle refusals are in test_models and test_convert; here a
   static check that every torch.load passes weights_only=True and nothing else unpickles), no shell
   ever runs a command built from strings (no `shell:` rules, no shell=True, argument lists only),
   and manifest paths stay under the corpus root (test_config_manifest, test_corpora)."""

from __future__ import annotations

import ast
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from deepfake_rl import stages, workflow
from deepfake_rl.models import Detector, ModelSpec, save_detector
from tests.conftest import REPO
from tests.test_models import TINY
from tests.test_training import labelled_store

MODEL = {"label": "Tiny", **TINY}
PYTHON_SOURCES = sorted([*(REPO / "src" / "deepfake_rl").rglob("*.py"), *(REPO / "rules" / "scripts").rglob("*.py"),
                         *(REPO / "benchmarks").rglob("*.py"), *(REPO / "scripts").rglob("*.py")])
WORKFLOW_SOURCES = sorted([REPO / "Snakefile", *(REPO / "rules").glob("*.smk")])


# --- 3. determinism ------------------------------------------------------------------------------------

def fine_tune_and_score(folder: Path, seed: int, stores: dict[str, Path], start: Path) -> tuple[bytes, np.ndarray]:
    """One fine-tuning job and one scoring job, as the workflow runs them; the scores file and embeddings."""
    method = {"loss": "grpo", "init": "posttrained", "lr": 1e-3, "epochs": 1, "max_steps": 3, "group_size": 8}
    settings = {"freeze": "cnn", "batch_size": 4, "crop_seconds": 0.4}
    run = folder / "runs" / "tiny" / "grpo" / f"seed{seed}"
    stages.finetune("tiny", MODEL, method, settings, seed, start, stores["train"], stores["valid"],
                    run / "model.safetensors", run / "train_log.csv")
    stages.score(run / "model.safetensors", settings["freeze"], [stores["test"]], [run / "scores" / "test.csv"],
                 [run / "embeddings" / "test.h5"])
    with h5py.File(run / "embeddings" / "test.h5", "r") as handle:
        embeddings = handle["embeddings"][()]
    return (run / "scores" / "test.csv").read_bytes(), embeddings


def test_same_seed_and_config_give_bit_identical_scores_on_cpu(tmp_path: Path) -> None:
    stores = {name: labelled_store(tmp_path / f"{name}.h5", n, seed)
              for seed, (name, n) in enumerate([("train", 8), ("valid", 6), ("test", 6)])}
    start = tmp_path / "posttrained.safetensors"
    save_detector(Detector(ModelSpec.from_config("tiny", MODEL), seed=0), start)
    first = fine_tune_and_score(tmp_path / "a", 1, stores, start)
    second = fine_tune_and_score(tmp_path / "b", 1, stores, start)
    assert first[0] == second[0]                                  # the scores CSV, byte for byte
    assert np.array_equal(first[1], second[1])                    # the embeddings, bit for bit
    other = fine_tune_and_score(tmp_path / "c", 2, stores, start)
    assert other[0] != first[0]                                   # the seed matters, so the check can fail


X86_AVX512 = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}
PINNED = {**workflow.ANY_MACHINE_PINS, **workflow.AVX2_PINS}          # NPY_DISABLE_CPU_FEATURES: by numpy release
UNPINNED = {*PINNED, "NPY_DISABLE_CPU_FEATURES"}                        # a clean environment drops these


def test_numerics_are_capped_at_avx2_on_x86_and_left_alone_elsewhere() -> None:
    """An AVX-512 machine must take the AVX2 paths an AVX2 machine takes; a CPU without AVX2, or an ARM
    one, gets no ISA setting (it would name kernels it cannot run); a value the user set is kept."""
    environ: dict[str, str] = {"MKL_CBWR": "COMPATIBLE"}
    applied = workflow.pin_numerics(environ, flags=X86_AVX512, machine="x86_64")
    assert environ["MKL_CBWR"] == "COMPATIBLE" and "MKL_CBWR" not in applied          # the user's choice
    assert {key: environ[key] for key in PINNED if key != "MKL_CBWR"} == \
        {key: value for key, value in PINNED.items() if key != "MKL_CBWR"}
    assert set(applied) == set(PINNED) - {"MKL_CBWR"} | {"NPY_DISABLE_CPU_FEATURES"}
    assert environ["ATEN_CPU_CAPABILITY"] == "avx2" and environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert "X86_V4" in environ["NPY_DISABLE_CPU_FEATURES"] or "AVX512F" in environ["NPY_DISABLE_CPU_FEATURES"]
    for flags, machine in (({"sse4_2", "avx"}, "x86_64"), (X86_AVX512, "aarch64"), (set(), "x86_64")):
        environ = {}
        workflow.pin_numerics(environ, flags=flags, machine=machine)
        assert environ == workflow.ANY_MACHINE_PINS, (flags, machine)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 fma\n\n")
    assert workflow.cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "fma"}
    assert workflow.cpu_flags(tmp_path / "missing") == set()


def test_run_stage_pins_numerics_before_the_stage_imports_anything(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k not in UNPINNED})
    monkeypatch.setattr(workflow, "cpu_flags", lambda: X86_AVX512)
    monkeypatch.setattr(workflow.platform, "machine", lambda: "x86_64")
    seen: dict[str, str] = {}
    monkeypatch.setitem(workflow.STAGES, "probe", lambda job: seen.update(os.environ))
    workflow.run_stage(SimpleNamespace(rule="probe", threads=1, log=[str(tmp_path / "probe.log")],
                                       params=SimpleNamespace()))
    assert {key: seen.get(key) for key in workflow.AVX2_PINS} == workflow.AVX2_PINS
    assert seen["OMP_NUM_THREADS"] == "1"


AVX2_X86 = platform.machine().lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= workflow.cpu_flags()


@pytest.mark.skipif(not AVX2_X86,
                    reason="needs an x86 CPU with AVX2 and FMA (read from /proc/cpuinfo)")
def test_a_pinned_process_runs_torch_and_numpy_on_their_avx2_kernels() -> None:
    """What the libraries report once loaded after the pins (on an AVX-512 machine: AVX2, not AVX512).
    numpy is asked about its dispatch *targets*: from numpy 2.4 on, plain feature flags such as AVX512F
    stay true on an AVX-512 CPU, but no AVX-512 target (X86_V4, AVX512_ICL...) may be chosen."""
    probe = ("from deepfake_rl.workflow import pin_numerics, numpy_avx512_targets; pin_numerics()\n"
             "import numpy, torch\n"
             "umath = (getattr(numpy, '_core', None) or numpy.core)._multiarray_umath\n"
             "chosen = [name for name in numpy_avx512_targets().split() if umath.__cpu_features__.get(name)]\n"
             "print(torch.backends.cpu.get_cpu_capability(), ','.join(chosen) or 'none')")
    environ = {k: v for k, v in os.environ.items() if k not in UNPINNED}
    result = subprocess.run([sys.executable, "-W", "error", "-c", probe], capture_output=True, text=True,
                            env=environ, timeout=300, check=True)
    assert result.stdout.split() == ["AVX2", "none"]


# --- 4. security: static guarantees over the code --------------------------------------------------------

def calls(path: Path) -> list[tuple[str, ast.Call]]:
    """(dotted name, node) of every call in a Python file."""
    def name(node: ast.AST) -> str:
        if isinstance(node, ast.Attribute):
            return f"{name(node.value)}.{node.attr}"
        return node.id if isinstance(node, ast.Name) else "?"

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [(name(node.func), node) for node in ast.walk(tree) if isinstance(node, ast.Call)]


def keyword(call: ast.Call, key: str) -> object:
    return next((k.value.value for k in call.keywords if k.arg == key and isinstance(k.value, ast.Constant)), None)


UNPICKLERS = {"pickle.load", "pickle.loads", "pickle.Unpickler", "dill.load", "dill.loads", "joblib.load",
              "pd.read_pickle", "pandas.read_pickle", "yaml.load", "yaml.unsafe_load", "marshal.loads"}
SHELLS = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput", "shell"}
SUBPROCESS = {"subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
              "subprocess.check_output"}


@pytest.mark.parametrize("path", PYTHON_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_nothing_is_unpickled_and_no_shell_runs(path: Path) -> None:
    for name, call in calls(path):
        where = f"{path.relative_to(REPO)}:{call.lineno}"
        assert name not in UNPICKLERS, f"{where}: {name} can run code from a file"
        assert name not in SHELLS, f"{where}: {name} runs a shell"
        if name == "torch.load":
            assert keyword(call, "weights_only") is True, f"{where}: torch.load without weights_only=True"
        if name in ("np.load", "numpy.load"):
            assert keyword(call, "allow_pickle") is not True, f"{where}: np.load with allow_pickle=True"
        if name in SUBPROCESS:
            assert keyword(call, "shell") is not True, f"{where}: shell=True"
            assert call.args and not isinstance(call.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)), \
                f"{where}: a command line built as a string; pass an argument list"


def test_the_workflow_runs_no_shell_commands() -> None:
    """Rules run Python (`script:`), never `shell:`/`run:` blocks, whose strings would hold config or
    manifest values (paths with spaces, quotes or `;`)."""
    for path in WORKFLOW_SOURCES:
        text = path.read_text(encoding="utf-8")
        for pattern in (r"^\s*shell:", r"^\s*run:", r"\bshell\(", r"\bos\.system\(", r"shell=True"):
            match = re.search(pattern, text, re.MULTILINE)
            assert match is None, f"{path.relative_to(REPO)}: {match.group(0).strip()!r}"
