"""Atomic file writing: a killed job must never leave a valid-looking partial output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it onto `final` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        if temporary_path.exists():  # mkstemp makes it 0600; outputs get the usual umask permissions
            umask = os.umask(0)
            os.umask(umask)
            temporary_path.chmod(0o666 & ~umask)
        os.replace(temporary_path, final)
    finally:
        if temporary_path.exists():
            temporary_path.unlink()
