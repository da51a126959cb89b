"""Are the configured inputs there? Each real corpus root holds what its loader needs, each imported
checkpoint file exists: checked by `python -m deepfake_rl check-config` before anything runs, so that a
wrong path is found in seconds rather than when its import job starts. The messages are the ones the
import jobs give (the same functions raise them), prefixed with the config key to fix. No audio is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepfake_rl.errors import require_file


def input_errors(config: dict[str, Any]) -> list[str]:
    """One message per configured corpus root or checkpoint file that is missing or incomplete; none for
    the embedded corpus (built by the workflow) and a config without checkpoints."""
    from deepfake_rl.config import BASE_INITS
    from deepfake_rl.data.corpora import check_layout

    errors: list[str] = []
    corpus = config.get("corpus", {})
    if corpus.get("kind") == "real":
        for name, domain in corpus.get("domains", {}).items():
            try:
                check_layout(domain["loader"], domain["root"], **domain.get("options", {}))
            except ValueError as error:   # the loaders' CorpusError and bad options
                errors.append(f"corpus.domains.{name}.root: {error}")
    for model, entry in config.get("checkpoints", {}).items():
        for kind in BASE_INITS:
            if kind in entry:
                try:
                    require_file(entry[kind], "checkpoint")   # the loaders' own check and message
                except FileNotFoundError as error:
                    errors.append(f"checkpoints.{model}.{kind}: {error}")
    return errors
