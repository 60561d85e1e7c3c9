"""Errors raised by :mod:`walle.deploy`.

Every one is a :class:`walle.Error`, so ``except walle.Error`` catches them all; the
message names the task, version, file or field at fault and the reason.
"""

from __future__ import annotations

from ..errors import Error


class DeployError(Error):
    """Base class of every error raised by the deployment platform."""


class BundleError(DeployError):
    """A bundle is malformed, tampered with, unsafe to unpack, or too large."""


class SignatureError(DeployError):
    """A release or rollback statement is unsigned, signed by an unknown key, or forged."""


class VersionRefused(DeployError):
    """A release is older than (or the same as) the installed version, with no rollback."""


class PolicyError(DeployError):
    """A deployment policy or stage list is invalid."""


class AuthError(DeployError):
    """A credential is missing, unknown, or of the wrong kind for the request."""


class NotFoundError(DeployError):
    """A task, release, deployment, device or blob does not exist."""


class ConflictError(DeployError):
    """The request conflicts with existing state (e.g. a version already published)."""


class ServerError(DeployError):
    """The deployment service answered a client request with an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"server answered {status}: {message}")
        self.status = status
