"""Walle deploy: release tasks to a fleet by push-then-pull.

The cloud service (:func:`create_app`, ``walle deploy serve``) keeps a task registry,
a content-addressed bundle store, deployments with staged policies, and a device
registry whose devices an operator accepts (policies match the attributes the operator
approved).  For each device it computes the desired state (per task, the newest
deployment whose policy and stage target it) and pushes small signed notices over
connections devices already hold; devices (:class:`Device`) pull bundles over plain
HTTP, verify them against pinned Ed25519 keys (refusing expired statements and replayed
rollbacks), install atomically, report every failure with its reason, and retry with
backoff through outages.  Instances sharing a PostgreSQL database fan changes out with
LISTEN/NOTIFY.

Heavy dependencies (FastAPI, SQLAlchemy, aiohttp) load only when a name is used.
"""

from __future__ import annotations

from walle._lazy import lazy_attributes

from .errors import (
    AuthError,
    BundleError,
    ConflictError,
    DeployError,
    NotFoundError,
    PolicyError,
    ServerError,
    SignatureError,
    VersionRefused,
)

_LAZY = {
    "Device": "walle.deploy.device",
    "Publisher": "walle.deploy.publisher",
    "ServerConfig": "walle.deploy.config",
    "create_app": "walle.deploy.app",
    "Policy": "walle.deploy.policy",
    "Stage": "walle.deploy.policy",
    "generate_key": "walle.deploy.signing",
    "public_key_b64": "walle.deploy.signing",
}

__all__ = [
    "AuthError",
    "BundleError",
    "ConflictError",
    "DeployError",
    "Device",
    "NotFoundError",
    "Policy",
    "PolicyError",
    "Publisher",
    "ServerConfig",
    "ServerError",
    "SignatureError",
    "Stage",
    "VersionRefused",
    "create_app",
    "generate_key",
    "public_key_b64",
]


__getattr__, __dir__ = lazy_attributes("walle.deploy", globals(), _LAZY)
