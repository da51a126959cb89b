"""A per-domain summary of a built corpus (counts, minutes, mean durations, attacks, content hash), for
the README and for a quick look after a build: `python -m deepfake_rl corpus-summary data/corpus`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepfake_rl.data.content_hash import combined_hash, read_domain_hash
from deepfake_rl.data.manifest import MANIFEST_NAME, read_manifest


def corpus_summary(corpus_root: str | Path) -> pd.DataFrame:
    """One row per domain folder under corpus_root that holds a manifest."""
    rows = []
    for manifest_path in sorted(Path(corpus_root).glob(f"*/{MANIFEST_NAME}")):
        manifest = read_manifest(manifest_path)
        seconds = manifest.groupby("Label")["Duration"]
        rows.append({
            "domain": manifest_path.parent.name,
            "real": int((manifest["Label"] == "real").sum()),
            "fake": int((manifest["Label"] == "fake").sum()),
            "minutes": round(manifest["Duration"].sum() / 60, 1),
            "mean_s_real": round(seconds.mean().get("real", float("nan")), 2),
            "mean_s_fake": round(seconds.mean().get("fake", float("nan")), 2),
            "parts": " ".join(f"{k}:{v}" for k, v in manifest["Proportion"].value_counts().sort_index().items()),
            "languages": " ".join(sorted(manifest["Language"].unique())),
            "attacks": " ".join(sorted(set(manifest["Attack"]) - {"-"})),
            "sha256": read_domain_hash(manifest_path.parent) or "-",
        })
    if not rows:
        raise FileNotFoundError(f"{corpus_root}: no <domain>/{MANIFEST_NAME} found (build the corpus first)")
    return pd.DataFrame(rows)


def corpus_hash(summary: pd.DataFrame) -> str | None:
    """The combined content hash of the summarised domains (None if a domain recorded none)."""
    hashes = dict(zip(summary["domain"], summary["sha256"]))
    return None if "-" in hashes.values() else combined_hash(hashes)
