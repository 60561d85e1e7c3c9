"""Exception types raised by Walle.

Every error the package raises is a :class:`walle.Error` subclass, so a caller can catch
all of them with one ``except walle.Error``.  Messages name the file, node, input or field
at fault.
"""

from __future__ import annotations


class Error(Exception):
    """Base class of every error raised by Walle."""


class ModelError(Error):
    """A model file is missing, truncated, corrupt, of an unknown version, or inconsistent."""


class UnsupportedOpError(Error):
    """A model uses operators that Walle does not implement (all of them are listed)."""


class InputError(Error):
    """An input given to a session has a wrong name, shape or dtype."""


class ConversionError(Error):
    """An ONNX model could not be converted for a reason other than unsupported operators."""


class BackendError(Error):
    """A backend is not available in this build or on this machine."""
