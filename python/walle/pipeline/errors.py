"""Errors raised by :mod:`walle.pipeline`; all are :class:`walle.Error` subclasses."""

from __future__ import annotations

from walle.errors import Error


class PipelineError(Error):
    """Base class of every error raised by the on-device pipeline."""


class EventError(PipelineError):
    """An event is malformed; the message names the field at fault. Nothing was stored."""


class PatternError(PipelineError):
    """A trigger pattern, filter condition or aggregate spec could not be parsed."""


class ManifestError(PipelineError):
    """The ``[pipeline]`` table of a task manifest is invalid; the message names the key."""


class StoreError(PipelineError):
    """The embedded SQLite store is unusable (corrupt, of another schema, or locked)."""


class UplinkError(PipelineError):
    """The collector rejected a batch for a reason that a retry cannot fix."""


class BackpressureError(PipelineError):
    """No room for the event: too many tasks or unsent results are pending downstream.
    Nothing was stored; send the event again later."""


class StateMismatchError(PipelineError):
    """The stored state does not fit the declared flows (an operator was changed or
    removed); the message names the operator uid and the ``upgrade`` option that resolves it."""
