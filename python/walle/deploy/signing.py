"""Ed25519 statements: what a publisher signs and what a device verifies.

A *statement* is a small JSON object naming a task, a version and the bundle's sha256.
As TUF's metadata does, it also carries a ``serial`` (the statement's own version,
increasing with every statement a signer issues) and an ``expires`` time: a device
refuses an expired statement (freeze attack) and a rollback whose serial is not newer
than one it already applied (replay).
It is serialised canonically (sorted keys, no spaces) so the signed bytes are the same
on every machine; the signature covers those bytes.  Keys travel as base64 of the raw
32-byte Ed25519 public key so they fit in a config file or on a command line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import SignatureError

STATEMENT_KINDS = ("release", "rollback")
_REQUIRED = ("kind", "task", "version", "bundle_sha256", "bundle_size", "manifest_sha256",
             "serial", "expires")
RELEASE_TTL_S = 365 * 86400  # default validity of a release statement


def canonical(statement: dict[str, Any]) -> bytes:
    """The exact bytes that are signed for ``statement``."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def generate_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PEM (PKCS#8, unencrypted) encoding of ``key``; keep the file mode 0600."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Read a PEM Ed25519 private key written by :func:`private_key_pem`."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SignatureError(f"cannot read private key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"private key {path} is not an Ed25519 key")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Base64 of the raw 32-byte public key (what devices pin)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(public_b64: str) -> str:
    """Short stable name of a public key, carried in statements to pick the right key."""
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def parse_public_key(public_b64: str) -> Ed25519PublicKey:
    """Decode a base64 raw public key, with a clear error when it is not one."""
    try:
        raw = base64.b64decode(public_b64, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SignatureError(f"not a base64 Ed25519 public key: {public_b64!r}") from exc


def next_serial() -> int:
    """A statement serial: microseconds since the epoch, so it grows with every signature."""
    return time.time_ns() // 1000


def sign(
    key: Ed25519PrivateKey, statement: dict[str, Any], ttl_s: float = RELEASE_TTL_S
) -> tuple[dict[str, Any], str]:
    """Stamp ``statement`` with the key id, a serial and an expiry (unless it has them)
    and sign it; returns (statement, signature)."""
    stamped = {"serial": next_serial(), "expires": int(time.time() + ttl_s), **statement,
               "key_id": key_id(public_key_b64(key))}
    check_statement(stamped)
    return stamped, base64.b64encode(key.sign(canonical(stamped))).decode()


def check_statement(statement: dict[str, Any]) -> None:
    """Raise :class:`SignatureError` unless ``statement`` has the required fields."""
    missing = [k for k in _REQUIRED if k not in statement]
    if missing:
        raise SignatureError(f"statement lacks field(s) {', '.join(missing)}")
    if statement["kind"] not in STATEMENT_KINDS:
        raise SignatureError(f"statement kind {statement['kind']!r} is not one of {STATEMENT_KINDS}")
    if statement["kind"] == "rollback" and "from_version" not in statement:
        raise SignatureError("rollback statement lacks from_version")
    for name in ("serial", "expires"):
        if not isinstance(statement[name], int) or isinstance(statement[name], bool):
            raise SignatureError(f"statement field {name} is not an integer")


class Verifier:
    """Checks statements against a pinned set of trusted public keys."""

    def __init__(self, trusted_keys: list[str]) -> None:
        if not trusted_keys:
            raise SignatureError("no trusted public key pinned: refusing to verify anything")
        self._keys = {key_id(k): parse_public_key(k) for k in trusted_keys}

    def verify(self, statement: dict[str, Any], signature: str) -> None:
        """Raise :class:`SignatureError` unless ``signature`` is a trusted key's over it."""
        check_statement(statement)
        what = f"{statement['kind']} {statement['task']} {statement['version']}"
        key = self._keys.get(str(statement.get("key_id")))
        if key is None:
            raise SignatureError(
                f"{what}: signed by unknown key {statement.get('key_id')!r} (not pinned)"
            )
        try:
            key.verify(base64.b64decode(signature), canonical(statement))
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError(f"{what}: signature does not match the statement") from exc
