"""Errors the command line reports as one line (`motioncontent: error: ...`) and a non-zero exit, and the check of
output folders that every command and writer makes before any work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class MotionContentError(Exception):
    """A problem the user can fix: bad input, a missing file, a wrong setting."""


class DataError(MotionContentError):
    """Missing, malformed or unusable data."""


class CheckpointError(MotionContentError, ValueError):
    """A checkpoint of another model or architecture (also a ValueError: a bad argument value)."""


def check_writable_dir(path: str | Path, what: str) -> None:
    """Raise a one-line MotionContentError unless `path` is, or can be created as, a folder this process can write.

    Checks the nearest existing ancestor by creating and deleting an empty temporary file in it (nothing is left
    behind): a file in the way, a folder without write permission or a read-only file system fails here, before
    any work, rather than as an OSError after minutes of it. A probe rather than os.access, which says yes to root
    whatever the permission bits and knows nothing of read-only mounts."""
    folder = Path(path).expanduser().absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MotionContentError(f"cannot write to the {what} {folder}: {existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-test-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise MotionContentError(f"cannot write to the {what} {folder}: {error.strerror or error} in {existing}") from None


def check_writable_file(path: str | Path, what: str) -> None:
    """check_writable_dir for the folder an output file goes to."""
    check_writable_dir(Path(path).expanduser().absolute().parent, f"folder of the {what}")
