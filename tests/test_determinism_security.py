"""Determinism and security (issue 10, items 3 and 4).

3. The same seed and config give bit-identical scores on CPU: fine-tuning then scoring, twice.
4. Nothing is unpickled (the malicious-pickle refusals are in test_models and test_convert; here a
   static check that every torch.load passes weights_only=True and nothing else unpickles), no shell
   ever runs a command built from strings (no `shell:` rules, no shell=True, argument lists only),
   and manifest paths stay under the corpus root (test_config_manifest, test_corpora)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from deepfake_rl import stages
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
