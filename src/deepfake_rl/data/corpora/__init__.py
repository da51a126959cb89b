"""Loaders of the real corpora: corpus root in, validated common manifest (+ skipped entries) out.

Each loader is `load(root, *, on_bad_file="error"|"skip", **options) -> LoadResult`; the manifest's
Path column is relative to `root` and never leaves it. Each also has a layout check (`check_layout`),
which the loader runs first and `python -m deepfake_rl check-config` runs before any job: the root,
protocol files and folders the loader needs, without reading audio, so both report the same message.
Registry names follow the corpus domains of the config (dfe24, add23, for, dv, itw) plus asv19la (whose
dev part is the asv19dev domain).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepfake_rl.data.corpora.add23 import check_add23, load_add23
from deepfake_rl.data.corpora.asvspoof2019 import check_asv19la, load_asv19la
from deepfake_rl.data.corpora.common import CorpusError, LoadResult, Skipped
from deepfake_rl.data.corpora.deep_voice import check_dv, load_dv
from deepfake_rl.data.corpora.dfe24 import check_dfe24, load_dfe24
from deepfake_rl.data.corpora.fake_or_real import check_for, load_for
from deepfake_rl.data.corpora.in_the_wild import check_itw, load_itw
from deepfake_rl.data.media import AudioInfo, decode_audio, probe_audio

Loader = Callable[..., LoadResult]

LOADERS: dict[str, Loader] = {
    "dfe24": load_dfe24,    # Deepfake-Eval-2024
    "add23": load_add23,    # ADD 2023 track 1.2 round 2
    "for": load_for,        # Fake-or-Real (version option, testing part by default)
    "dv": load_dv,          # DEEP-VOICE
    "itw": load_itw,        # In-the-Wild
    "asv19la": load_asv19la,  # ASVspoof 2019 LA (parts option)
}

LAYOUT_CHECKS: dict[str, Callable[..., Path]] = {
    "dfe24": check_dfe24, "add23": check_add23, "for": check_for, "dv": check_dv, "itw": check_itw,
    "asv19la": check_asv19la,
}


def get_loader(name: str) -> Loader:
    """The loader registered under `name`; unknown names list the known ones."""
    if name not in LOADERS:
        raise KeyError(f"unknown corpus {name!r}; known corpora: {sorted(LOADERS)}")
    return LOADERS[name]


def load_corpus(name: str, root: str | Path, *, on_bad_file: str = "error", **options: Any) -> LoadResult:
    """Load corpus `name` from `root` (options are the loader's keyword arguments)."""
    return get_loader(name)(root, on_bad_file=on_bad_file, **options)


def check_layout(name: str, root: str | Path, **options: Any) -> Path:
    """Raise CorpusError (the import's message) unless `root` holds what loader `name` needs; no audio is
    read. Options the check does not need (e.g. other_rows) are ignored."""
    check = LAYOUT_CHECKS[name]
    accepted = inspect.signature(check).parameters
    return check(root, **{key: value for key, value in options.items() if key in accepted})


__all__ = ["LAYOUT_CHECKS", "LOADERS", "AudioInfo", "CorpusError", "LoadResult", "Skipped", "check_layout",
           "decode_audio", "get_loader", "load_corpus", "probe_audio"]
