"""``walle deploy ...``: run the service and drive it as a publisher.

    walle deploy keygen --out publisher.pem
    walle deploy serve --db sqlite:///deploy.db --publisher-token T --enroll-token E \\
        --publisher-key <base64 public key>
    walle deploy publish ./my_task --server http://127.0.0.1:8700 --token T --key publisher.pem
    walle deploy deploy my_task 1.2.0 --stages 1,10,50,100 --hold 600 --server ... --token T
    walle deploy pause|resume|advance|rollback <deployment id> --server ... --token T
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import DeployError

ENV_PUB, ENV_ENROLL = "WALLE_DEPLOY_PUBLISHER_TOKEN", "WALLE_DEPLOY_ENROLL_TOKEN"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="walle deploy", description="Walle deployment platform")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="run the deployment service")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8700)
    s.add_argument("--db", default="sqlite:///walle-deploy.db",
                   help="SQLAlchemy URL: sqlite:///file.db or postgresql://user@host/db")
    s.add_argument("--data-dir", default="walle-deploy-data", help="bundle store directory")
    s.add_argument("--publisher-token", action="append", default=[],
                   help=f"publisher credential (repeatable; or ${ENV_PUB})")
    s.add_argument("--enroll-token", action="append", default=[],
                   help=f"device enrollment credential (repeatable; or ${ENV_ENROLL})")
    s.add_argument("--publisher-key", action="append", default=[],
                   help="trusted publisher public key, base64 (repeatable)")
    s.add_argument("--signing-key", help="PEM key the service uses to sign rollbacks")
    s.add_argument("--public-bundles", action="store_true",
                   help="serve bundles without device auth (for a CDN in front)")
    s.add_argument("--bundle-url", default="/bundles/{sha256}")
    s.add_argument("--tick", type=float, default=1.0, help="stage scheduler period, seconds")
    s.add_argument("--log-level", default="info")

    k = sub.add_parser("keygen", help="create an Ed25519 publisher key")
    k.add_argument("--out", required=True, help="PEM file to write (mode 0600)")

    def client(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        c.add_argument("--server", default="http://127.0.0.1:8700")
        c.add_argument("--token", default=os.environ.get(ENV_PUB), help=f"or ${ENV_PUB}")
        return c

    c = client("publish", "pack, sign and upload a bundle")
    c.add_argument("bundle", help="bundle directory or .zip/.tar.gz")
    c.add_argument("--key", required=True, help="publisher private key (PEM)")
    c = client("deploy", "start a staged deployment")
    c.add_argument("task")
    c.add_argument("version")
    c.add_argument("--stages", default="1,10,50,100", help="comma-separated percentages")
    c.add_argument("--hold", type=float, help="advance each stage after this many seconds")
    c.add_argument("--policy", default="{}", help="JSON policy (os, regions, app_version, ...)")
    c.add_argument("--fail-threshold", type=float, default=0.2)
    c.add_argument("--min-reports", type=int, default=10)
    for action in ("advance", "pause", "resume", "rollback"):
        c = client(action, f"{action} a deployment")
        c.add_argument("deployment", type=int)
        if action == "rollback":
            c.add_argument("--key", help="sign the rollback with this publisher key")
    client("list", "list deployments with live counts")
    return p


def _serve(a: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .config import ServerConfig

    env_pub, env_enroll = os.environ.get(ENV_PUB), os.environ.get(ENV_ENROLL)
    cfg = ServerConfig(
        db_url=a.db, data_dir=a.data_dir,
        publisher_tokens=a.publisher_token + ([env_pub] if env_pub else []),
        enroll_tokens=a.enroll_token + ([env_enroll] if env_enroll else []),
        publisher_keys=a.publisher_key, signing_key=a.signing_key,
        public_bundles=a.public_bundles, bundle_url=a.bundle_url, tick_s=a.tick,
    )
    if not cfg.publisher_tokens or not cfg.enroll_tokens:
        raise DeployError("serve needs --publisher-token and --enroll-token (or the env vars)")
    if not cfg.publisher_keys and not cfg.signing_key:
        raise DeployError("serve needs at least one --publisher-key to verify releases")
    uvicorn.run(create_app(cfg), host=a.host, port=a.port, log_level=a.log_level,
                access_log=False, backlog=8192, timeout_keep_alive=30)
    return 0


def _keygen(a: argparse.Namespace) -> int:
    from .signing import generate_key, private_key_pem, public_key_b64

    key = generate_key()
    out = Path(a.out)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_pem(key))
    print(json.dumps({"private_key": str(out), "public_key": public_key_b64(key)}))
    return 0


async def _client(a: argparse.Namespace) -> Any:
    from .publisher import Publisher
    from .signing import load_private_key

    if not a.token:
        raise DeployError(f"no publisher token: pass --token or set ${ENV_PUB}")
    key = load_private_key(a.key) if getattr(a, "key", None) else None
    pub = Publisher(a.server, a.token, key)
    if a.cmd == "publish":
        return await pub.publish(a.bundle)
    if a.cmd == "deploy":
        stages = [{"percent": float(x), "hold_s": a.hold} for x in a.stages.split(",")]
        return await pub.deploy(a.task, a.version, policy=json.loads(a.policy), stages=stages,
                                fail_threshold=a.fail_threshold, min_reports=a.min_reports)
    if a.cmd == "list":
        return await pub.get("/api/v1/deployments")
    if a.cmd == "rollback":
        return await pub.rollback(a.deployment)
    return await pub.action(a.deployment, a.cmd)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``walle deploy``; returns the exit status."""
    a = _parser().parse_args(argv)
    try:
        if a.cmd == "serve":
            return _serve(a)
        if a.cmd == "keygen":
            return _keygen(a)
        print(json.dumps(asyncio.run(_client(a)), indent=2))
        return 0
    except DeployError as exc:
        print(f"walle deploy: error: {exc}", file=sys.stderr)
        return 1
