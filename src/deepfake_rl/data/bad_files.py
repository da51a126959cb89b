"""The bad-file policy and its skip report, shared by every stage that reads audio files.

A single unusable clip (missing, unreadable, empty, non-finite or silent) either stops the job
(`error`, the default: a test set must not shrink unnoticed) or is left out and listed with its
reason in a CSV report (`skip`). Nothing is ever substituted for it. Problems of the corpus as a
whole (malformed protocol lines, unknown labels, duplicate IDs, paths leaving the root) are not
covered by the policy: they always stop the job, naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from deepfake_rl.io_utils import atomic_path

BadFilePolicy = Literal["error", "skip"]
POLICIES: tuple[str, ...] = ("error", "skip")
REPORT_COLUMNS: tuple[str, str] = ("entry", "reason")
SKIP_ADVICE = "set corpus.on_bad_file: skip to leave such files out and list them in {report}"


@dataclass(frozen=True)
class Skipped:
    """An entry left out: which one (path, protocol or manifest line) and why."""

    entry: str
    reason: str


def check_policy(on_bad_file: str) -> BadFilePolicy:
    """The bad-file policy, checked before any file is read."""
    if on_bad_file not in POLICIES:
        raise ValueError(f"on_bad_file {on_bad_file!r}: expected one of {list(POLICIES)}")
    return on_bad_file  # type: ignore[return-value]


def skipped_file(path: str | Path, error: Exception, where: str = "") -> Skipped:
    """A report entry for `path` from the error that disqualified it (the path is not repeated in the reason);
    `where` is the protocol or manifest line, e.g. "label.txt:12"."""
    prefix = f"{where}: " if where else ""
    return Skipped(f"{prefix}{path}", str(error).removeprefix(f"{path}: "))


def skip_summary(skipped: list[Skipped], limit: int = 3) -> str:
    """The first few skips, for the message of a job that has nothing left to work with."""
    if not skipped:
        return ""
    listing = "; ".join(f"{item.entry}: {item.reason}" for item in skipped[:limit])
    return f" (skipped {len(skipped)}: {listing}{' ...' if len(skipped) > limit else ''})"


def write_skip_report(path: str | Path, skipped: Iterable[Skipped]) -> None:
    """The skip report as CSV (entry, reason), written atomically; header only when nothing was skipped,
    so that an empty report is a positive statement, not a missing file."""
    rows = [(item.entry, item.reason) for item in skipped]
    with atomic_path(path) as temporary:
        pd.DataFrame(rows, columns=list(REPORT_COLUMNS)).to_csv(temporary, index=False)
