"""Typed errors. Every failure a user can cause is a ``ModelLensError`` carrying a fix.

Hierarchy::

    ModelLensError(message, fix)          a user-facing problem: one line + how to fix it
    ├── ModelLoadError                    the file is a model we know but cannot read
    │   └── UnsupportedFormatError        the file is not in a format ModelLens opens
    │       └── NotAModelError            the file is a known non-model (pickle, image, ...)
    ├── InputSpecError                    an input spec the user typed is wrong
    └── ModelRunError                     the model failed while running
    InternalError                         our own bug (not a ModelLensError: exit code 1)
"""

from __future__ import annotations


class ModelLensError(Exception):
    """A problem the user can fix. ``str(err)`` is a single line: problem, then fix."""

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = " ".join(message.split())
        self.fix = " ".join(fix.split())
        super().__init__(self.one_line())

    def one_line(self) -> str:
        if not self.fix:
            return self.message
        return f"{self.message.rstrip('.')}. Fix: {self.fix}"


class ModelLoadError(ModelLensError):
    """The file looks like a supported model but cannot be read."""


class UnsupportedFormatError(ModelLoadError):
    """The file is in no format ModelLens can open."""


class NotAModelError(UnsupportedFormatError):
    """The file is something we recognise that is not a runnable model.

    ``snippet`` holds code the user can copy to turn it into one (may be empty).
    """

    def __init__(self, message: str, fix: str = "", snippet: str = "") -> None:
        super().__init__(message, fix)
        self.snippet = snippet


class InputSpecError(ModelLensError):
    """An input spec or input data file is invalid."""


class ModelRunError(ModelLensError):
    """The model failed while running."""


class InternalError(Exception):
    """A bug in ModelLens itself, never the user's fault."""
