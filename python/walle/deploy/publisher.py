"""Publisher client: pack, sign, upload and deploy a task bundle."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import bundle
from .errors import BundleError, DeployError, ServerError
from .signing import sign

ROLLBACK_TTL_S = 30 * 86400  # a publisher-signed rollback statement stays valid this long


def prepare(path: str | Path) -> tuple[bytes, bundle.Manifest]:
    """Archive bytes and manifest of a bundle directory or an existing .zip/.tar.gz."""
    p = Path(path)
    if p.is_dir():
        data = bundle.pack_dir(p)
    elif p.is_file():
        data = p.read_bytes()
    else:
        raise BundleError(f"{p}: no such bundle directory or archive")
    with tempfile.NamedTemporaryFile(suffix=".bundle") as tmp:
        tmp.write(data)
        tmp.flush()
        return data, bundle.read_manifest(tmp.name)


def release_statement(data: bytes, manifest: bundle.Manifest) -> dict[str, Any]:
    """The unsigned statement for an archive: what the publisher vouches for."""
    return {
        "kind": "release", "task": manifest.name, "version": manifest.version,
        "bundle_sha256": hashlib.sha256(data).hexdigest(), "bundle_size": len(data),
        "manifest_sha256": manifest.sha256, "format": bundle.archive_format(data[:4]),
    }


class Publisher:
    """Talks to the service's publisher API with a publisher token."""

    def __init__(self, server: str, token: str, key: Ed25519PrivateKey | None = None) -> None:
        self.server = server.rstrip("/")
        self.key = key
        self._headers = {"Authorization": f"Bearer {token}"}

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            async with (
                aiohttp.ClientSession() as s,
                s.request(method, self.server + path, headers=self._headers, **kw) as r,
            ):
                text = await r.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeployError(f"cannot reach the service at {self.server}: {exc or type(exc).__name__}") from exc
        if r.status >= 300:
            with contextlib.suppress(ValueError, AttributeError):  # not JSON: keep the raw text
                text = json.loads(text).get("detail", text)
            raise ServerError(r.status, str(text))
        return json.loads(text) if text else None

    async def publish(self, path: str | Path) -> dict[str, Any]:
        """Pack (if a directory), sign, upload and register a release."""
        if self.key is None:
            raise BundleError("publishing needs the publisher's private key")
        data, manifest = prepare(path)
        statement, signature = sign(self.key, release_statement(data, manifest))
        await self._call("PUT", f"/api/v1/blobs/{statement['bundle_sha256']}", data=data)
        return await self._call("POST", "/api/v1/releases",
                                json={"statement": statement, "signature": signature})

    async def deploy(self, task: str, version: str, **options: Any) -> dict[str, Any]:
        """Create a deployment (options: policy, stages, fail_threshold, min_reports, salt)."""
        return await self._call("POST", "/api/v1/deployments",
                                json={"task": task, "version": version, **options})

    async def accept(self, ids: list[str] | None = None, all_pending: bool = False,
                     attrs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Accept devices (all pending ones with ``all_pending``); ``attrs`` replaces the
        attributes they claimed."""
        body: dict[str, Any] = {"ids": ids or [], "all_pending": all_pending}
        if attrs is not None:
            body["attrs"] = attrs
        return await self._call("POST", "/api/v1/devices/accept", json=body)

    async def action_path(self, path: str) -> Any:
        """POST an operator action path with no body."""
        return await self._call("POST", path)

    async def action(self, dep_id: int, action: str, body: dict[str, Any] | None = None) -> Any:
        """``advance``, ``pause``, ``resume`` or ``rollback`` a deployment."""
        return await self._call("POST", f"/api/v1/deployments/{dep_id}/{action}", json=body)

    async def rollback(self, dep_id: int) -> Any:
        """Roll back, signing the rollback statement with our key if we have one."""
        if self.key is None:
            return await self.action(dep_id, "rollback")
        dep = await self.get(f"/api/v1/deployments/{dep_id}")
        rels = await self.get(f"/api/v1/releases?task={dep['task']}")
        deps = await self.get("/api/v1/deployments")
        older = [d for d in deps if d["task"] == dep["task"] and d["id"] < dep_id
                 and d["kind"] == "release" and d["state"] != "rolled_back"]
        if not older:
            return await self.action(dep_id, "rollback")  # the service names the problem
        prev = next(r for r in rels if r["version"] == older[0]["version"])
        full = await self._release_statement(prev)
        st = {"kind": "rollback", "task": dep["task"], "version": prev["version"],
              "bundle_sha256": prev["bundle_sha256"], "bundle_size": prev["bundle_size"],
              "manifest_sha256": full["manifest_sha256"], "from_version": dep["version"]}
        statement, signature = sign(self.key, st, ttl_s=ROLLBACK_TTL_S)
        return await self.action(dep_id, "rollback", {"statement": statement, "signature": signature})

    async def _release_statement(self, rel: dict[str, Any]) -> dict[str, Any]:
        return await self.get(f"/api/v1/releases/{rel['id']}/statement")

    async def get(self, path: str) -> Any:
        """GET a publisher API path."""
        return await self._call("GET", path)
