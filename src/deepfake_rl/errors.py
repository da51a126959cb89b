"""The marker of expected data errors, kept in a module with no heavy imports.

A job that stops on a bad corpus, protocol line, manifest or clip has a message that names the file
(and line) and what to do; a traceback would only bury it. `workflow.run_stage` prints such errors as
one line and exits, and keeps the traceback for everything else (bugs).
"""

from __future__ import annotations


class DataError(ValueError):
    """A problem of the input data, not of the code; the message names the file (and line) at fault."""
