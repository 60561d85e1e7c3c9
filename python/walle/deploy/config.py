"""Configuration of the deployment service."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServerConfig:
    """Everything ``walle deploy serve`` needs; the CLI fills it from flags and env.

    Publishers and devices use separate credentials: ``publisher_tokens`` allow the
    publishing and operator API; ``enroll_tokens`` only allow a device to register,
    which returns that device's own token.
    """

    db_url: str = "sqlite:///walle-deploy.db"
    data_dir: str = "walle-deploy-data"
    publisher_tokens: list[str] = field(default_factory=list)
    enroll_tokens: list[str] = field(default_factory=list)
    publisher_keys: list[str] = field(default_factory=list)  # base64 Ed25519 public keys
    signing_key: str | None = None  # PEM path; lets the service sign rollbacks itself
    public_bundles: bool = False  # True when a CDN in front serves bundles to anyone
    bundle_url: str = "/bundles/{sha256}"  # or "https://cdn.example/b/{sha256}"
    tick_s: float = 1.0  # scheduler period for timed stage advances
    max_bundle_bytes: int = 1 << 30
