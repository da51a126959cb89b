"""Shared fixtures: the repository root, the default config, and the tiny pipeline run in a copy of
the repository (shared by tests/test_pipeline_tiny.py and tests/test_slurm.py)."""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIGS = ("config/config.yaml", "config/tiny.yaml")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture()
def default_config() -> dict:
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as handle:
        return copy.deepcopy(yaml.safe_load(handle))


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module (the folder is scripts, not a package), registered in sys.modules so
    that its dataclasses can look their module up."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def copy_repository(destination: Path) -> Path:
    """The tracked and untracked-but-not-ignored files of the repository, as a fresh clone would have."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                target.write_bytes(source.read_bytes())
    return destination


def snakemake_runner(repo: Path, env: dict[str, str] | None = None) -> Callable[..., str]:
    """`snakemake(*args, overlays=(), check=True)` in `repo` on the tiny config, importing the copy's
    own src/ (so edits to the copy behave like a user's edits); returns stdout + stderr."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(repo / "src")}

    def snakemake(*args: str, overlays: tuple[str, ...] = (), check: bool = True, timeout: float = 1500) -> str:
        configs = [*TINY_CONFIGS, *overlays]  # --configfile last: it takes many values
        result = subprocess.run([sys.executable, "-m", "snakemake", *args, "--configfile", *configs],
                                cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"snakemake {args} failed:\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}")
        return result.stdout + result.stderr

    return snakemake


@dataclass(frozen=True)
class TinyRun:
    repo: Path
    snakemake: Callable[..., str]
    table1: str  # results/table1.csv as the run wrote it (tests may edit the copy later)
    output: str  # snakemake's output of the run


@pytest.fixture(scope="session")
def tiny_local_run(tmp_path_factory) -> TinyRun:
    """The tiny pipeline, run once per session on this machine (`--cores 2`)."""
    repo = copy_repository(tmp_path_factory.mktemp("repo"))
    snakemake = snakemake_runner(repo)
    output = snakemake("--cores", "2")
    return TinyRun(repo, snakemake, (repo / "results" / "table1.csv").read_text(), output)


@pytest.fixture(scope="session")
def tiny_run(tiny_local_run):
    """(copy of the repository, snakemake runner) of the shared tiny run."""
    return tiny_local_run.repo, tiny_local_run.snakemake
