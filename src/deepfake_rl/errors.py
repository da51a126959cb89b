"""The marker of expected data errors, kept in a module with no heavy imports.

A job that stops on a bad corpus, protocol line, manifest or clip, a missing input file or an unusable
checkpoint has a message that names the file (and line) and what to do; a traceback would only bury it. `workflow.run_stage` prints such errors as
one line and exits, and keeps the traceback for everything else (bugs).
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A problem of the input data, not of the code; the message names the file (and line) at fault."""


class MissingInputError(DataError, FileNotFoundError):
    """An input file is not there: a data error (one line in the job's log), and still a FileNotFoundError."""


def require_file(path: str | Path, what: str, hint: str | None = None) -> Path:
    """`path` as a Path if it is a file; otherwise a MissingInputError naming it, what it should hold and
    (`hint`) which stage makes it."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: {what} not found" + (f" ({hint})" if hint else ""))
    return path
