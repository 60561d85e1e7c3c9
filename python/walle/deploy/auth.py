"""Credentials: publisher tokens, device enrollment tokens and per-device tokens.

Only sha256 hashes of tokens are kept, so a leaked database does not leak credentials.
Device lookups are cached because every device request and connection needs one; the
cache is dropped for a device the operator accepts or revokes, here or (through the
notice bus) on another instance.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from .errors import AuthError
from .store import Store


def token_hash(token: str) -> str:
    """Stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header."""
    if not header or not header.lower().startswith("bearer "):
        raise AuthError("missing 'Authorization: Bearer <token>' header")
    return header[7:].strip()


class Auth:
    """Checks the three kinds of credential."""

    def __init__(self, store: Store, publisher_tokens: list[str], enroll_tokens: list[str]) -> None:
        self._store = store
        self._publishers = [token_hash(t) for t in publisher_tokens]
        self._enroll = [token_hash(t) for t in enroll_tokens]
        self._devices: dict[str, tuple[str, str, dict[str, Any]]] = {}

    @staticmethod
    def _match(token: str, hashes: list[str]) -> bool:
        h = token_hash(token)
        return any(hmac.compare_digest(h, x) for x in hashes)

    def publisher(self, header: str | None) -> None:
        """Raise unless the header carries a publisher token."""
        if not self._match(bearer(header), self._publishers):
            raise AuthError("not a publisher credential")

    def enroll(self, header: str | None) -> None:
        """Raise unless the header carries an enrollment token."""
        if not self._match(bearer(header), self._enroll):
            raise AuthError("not a device enrollment credential")

    async def device(self, header: str | None) -> tuple[str, dict[str, Any] | None]:
        """(device id, approved attributes) of the device whose token the header carries.

        The attributes are None while the operator has not accepted the device; a
        revoked device's credential is refused.
        """
        h = token_hash(bearer(header))
        hit = self._devices.get(h)
        if hit is None:
            hit = await self._store.device_by_token(h)
            if hit is None:
                raise AuthError("not a device credential")
            self._devices[h] = hit
        device_id, state, attrs = hit
        if state == "revoked":
            raise AuthError(f"device {device_id} was revoked by the operator")
        return device_id, (attrs if state == "accepted" else None)

    def forget(self, device_ids: set[str] | None) -> None:
        """Drop cached lookups of devices whose state or attributes changed (None: all)."""
        if device_ids is None:
            self._devices.clear()
            return
        for h in [h for h, hit in self._devices.items() if hit[0] in device_ids]:
            del self._devices[h]

    @staticmethod
    def new_device_token() -> tuple[str, str]:
        """(token to give the device once, hash to store)."""
        token = secrets.token_urlsafe(32)
        return token, token_hash(token)
