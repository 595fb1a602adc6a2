"""Errors the command line reports as one line (`motioncontent: error: ...`) and a non-zero exit."""


class MotionContentError(Exception):
    """A problem the user can fix: bad input, a missing file, a wrong setting."""


class DataError(MotionContentError):
    """Missing, malformed or unusable data."""


class CheckpointError(MotionContentError, ValueError):
    """A checkpoint of another model or architecture (also a ValueError: a bad argument value)."""
