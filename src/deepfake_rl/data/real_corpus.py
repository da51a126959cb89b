"""Importing a downloaded corpus as a domain of the workflow: `data/corpus/<domain>/`.

The import never copies or writes audio. It writes, into the domain folder:

* ``root``: a symbolic link to the corpus folder (absolute), so that the manifest's Path column
  stays relative to the manifest's folder, as for the embedded corpus: ``root/wav/x.wav``;
* ``manifest.csv``: the loader's manifest (deepfake_rl.data.corpora), paths prefixed ``root/``;
* ``skipped.csv``: every entry left out and why (header only when nothing was skipped), from the
  loader (missing, unreadable files, stray non-audio files) and from the decode check;
* ``import.json``: what was imported: loader, root as configured and resolved, options, policy,
  counts per proportion and label.

With ``verify="decode"`` every listed file is decoded once here, through the same function the
segmentation uses, so that an undecodable, empty, non-finite or silent file is caught under the
configured bad-file policy instead of stopping a segmentation job hours later.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from deepfake_rl.data.audio_io import AudioError, load_audio
from deepfake_rl.data.bad_files import SKIP_ADVICE, Skipped, check_policy, skipped_file, write_skip_report
from deepfake_rl.data.corpora import LOADERS, CorpusError, get_loader, load_corpus
from deepfake_rl.data.manifest import MANIFEST_NAME, write_manifest
from deepfake_rl.io_utils import atomic_path

log = logging.getLogger(__name__)

ROOT_LINK = "root"
SKIPPED_NAME = "skipped.csv"
RECORD_NAME = "import.json"
VERIFY_MODES = ("decode", "header")

# Loader option that selects parts, and how its values map to manifest Proportions.
_PART_OPTIONS: dict[str, dict[str, str]] = {
    "for": {"training": "train", "validation": "valid", "testing": "test"},
    "asv19la": {"train": "train", "dev": "valid", "eval": "test"},
}
# Proportions of loaders without a parts option.
_FIXED_PROPORTIONS: dict[str, tuple[str, ...]] = {
    "dfe24": ("train", "test"),   # Deepfake-Eval-2024 has no validation split
    "add23": ("test",),
    "dv": ("test",),
    "itw": ("test",),
}


def loader_options(loader: str) -> dict[str, Any]:
    """The options a loader accepts (its keyword arguments besides on_bad_file) with their defaults."""
    parameters = inspect.signature(get_loader(loader)).parameters
    return {name: p.default for name, p in parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "on_bad_file"}


def loader_proportions(loader: str, options: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The manifest Proportions a loader produces with these options (no file is read)."""
    if loader in _FIXED_PROPORTIONS:
        return _FIXED_PROPORTIONS[loader]
    parts = (options or {}).get("parts", loader_options(loader)["parts"])
    mapping = _PART_OPTIONS[loader]
    return tuple(dict.fromkeys(mapping[part] for part in parts if part in mapping))


def option_errors(loader: str, options: dict[str, Any], key: str) -> list[str]:
    """Unknown option names and malformed `parts` of one configured domain, as config messages."""
    if loader not in LOADERS:
        return []  # the schema reports unknown loaders
    allowed = loader_options(loader)
    errors = [f"{key}.options.{name}: not an option of loader {loader!r}; allowed: {sorted(allowed)}"
              for name in options if name not in allowed]
    if "parts" in options and "parts" in allowed:
        parts = options["parts"]
        known = list(_PART_OPTIONS[loader])
        if not isinstance(parts, list) or not parts or not set(parts) <= set(known):
            errors.append(f"{key}.options.parts: {parts!r} is not a non-empty list of {known}")
    return errors


def _decode_check(root: Path, manifest: pd.DataFrame, threads: int) -> list[tuple[int, Skipped]]:
    """(row position, report entry) of every file the segmentation could not use."""
    def check(item: tuple[int, str]) -> tuple[int, Skipped] | None:
        position, relative = item
        try:
            load_audio(root / relative)
        except AudioError as error:
            return position, skipped_file(root / relative, error)
        return None

    items = list(enumerate(manifest["Path"]))
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:  # ffmpeg, libsndfile and soxr release the GIL
        results = list(pool.map(check, items))
    return [result for result in results if result is not None]


def import_domain(loader: str, root: str | Path, output_dir: str | Path, *, options: dict[str, Any] | None = None,
                  on_bad_file: str = "error", verify: str = "decode", threads: int = 1) -> dict[str, Any]:
    """Import one corpus into `output_dir` (see the module docstring); return the import record."""
    check_policy(on_bad_file)
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify {verify!r}: expected one of {list(VERIFY_MODES)}")
    options = dict(options or {})
    if "parts" in options:
        options["parts"] = tuple(options["parts"])
    resolved = Path(root).resolve()
    result = load_corpus(loader, resolved, on_bad_file=on_bad_file, **options)
    manifest, skipped = result.manifest.reset_index(drop=True), list(result.skipped)
    if verify == "decode":
        failures = _decode_check(resolved, manifest, threads)
        if failures and on_bad_file == "error":
            listing = "; ".join(f"{item.entry}: {item.reason}" for _, item in failures[:5])
            raise CorpusError(f"{resolved}: {len(failures)} file(s) cannot be decoded for segmentation: {listing}"
                              + (" ..." if len(failures) > 5 else "")
                              + f" ({SKIP_ADVICE.format(report=SKIPPED_NAME)})")
        for _, item in failures:
            skipped.append(Skipped(item.entry, f"decode check: {item.reason}"))
        manifest = manifest.drop(index=[position for position, _ in failures]).reset_index(drop=True)
        if manifest.empty:
            raise CorpusError(f"{resolved}: no file of {loader!r} passed the decode check")
    manifest["Path"] = [str(PurePosixPath(ROOT_LINK) / path) for path in manifest["Path"]]

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    link = output_dir / ROOT_LINK
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(resolved, link, target_is_directory=True)
    write_manifest(manifest, output_dir / MANIFEST_NAME)
    write_skip_report(output_dir / SKIPPED_NAME, skipped)
    counts = manifest.groupby(["Proportion", "Label"]).size()
    record = {"loader": loader, "root": str(root), "resolved_root": str(resolved),
              "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
              "on_bad_file": on_bad_file, "verify": verify, "n_items": len(manifest), "n_skipped": len(skipped),
              "hours": round(float(manifest["Duration"].sum()) / 3600, 3),
              "counts": {f"{proportion}/{label}": int(n) for (proportion, label), n in counts.items()}}
    with atomic_path(output_dir / RECORD_NAME) as temporary:
        Path(temporary).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log.info("imported %s from %s: %d items (%.2f h), %d skipped (%s)", loader, resolved, len(manifest),
             record["hours"], len(skipped), output_dir / SKIPPED_NAME)
    for item in skipped:
        log.warning("skipped %s: %s", item.entry, item.reason)
    return record
