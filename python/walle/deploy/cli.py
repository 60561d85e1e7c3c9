"""``walle deploy ...``: run the service and drive it as a publisher and operator.

    walle deploy keygen --out publisher.pem     # offline key: signs releases
    walle deploy keygen --out service.pem       # online key: the service signs rollbacks
    walle deploy serve --db sqlite:///deploy.db --publisher-token T --enroll-token E \\
        --publisher-key <publisher public key> --signing-key service.pem
    # devices pin both public keys; each registers with E and waits for acceptance
    walle deploy devices --state pending --server http://127.0.0.1:8700 --token T
    walle deploy accept --all-pending --server ... --token T   # or: accept ID... --attrs JSON
    walle deploy publish ./my_task --server http://127.0.0.1:8700 --token T --key publisher.pem
    walle deploy deploy my_task 1.2.0 --stages 1,10,50,100 --hold 600 --server ... --token T
    walle deploy pause|resume|advance|rollback <deployment id> --server ... --token T
    walle deploy revoke <device id> | device <device id> | failing | audit  --server ... --token T

Every error is one line on stderr; usage errors exit 2, failures exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import DeployError

ENV_PUB, ENV_ENROLL = "WALLE_DEPLOY_PUBLISHER_TOKEN", "WALLE_DEPLOY_ENROLL_TOKEN"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, not {type(value).__name__}")
    return value


def _percentages(text: str) -> list[float]:
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a percentage") from None
        if not 0 < value <= 100:
            raise argparse.ArgumentTypeError(f"{value:g} is not in (0, 100]")
        out.append(value)
    return out


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="walle deploy", description="Walle deployment platform",
                epilog="every subcommand answers --help")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

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
    c.add_argument("--stages", type=_percentages, default=[1.0, 10.0, 50.0, 100.0],
                   help="comma-separated percentages (default 1,10,50,100)")
    c.add_argument("--hold", type=float, help="advance each stage after this many seconds")
    c.add_argument("--policy", type=_json_object, default={},
                   help="JSON policy (os, regions, app_version, allow, deny, ...)")
    c.add_argument("--fail-threshold", type=float, default=0.2)
    c.add_argument("--min-reports", type=int, default=20)
    for action in ("advance", "pause", "resume", "rollback"):
        c = client(action, f"{action} a deployment")
        c.add_argument("deployment", type=int)
        if action == "rollback":
            c.add_argument("--key", help="sign the rollback with this publisher key "
                                         "(else the service signs it with its --signing-key)")
    client("list", "list deployments with live counts")
    c = client("devices", "list registered devices")
    c.add_argument("--state", choices=["pending", "accepted", "revoked"])
    c = client("accept", "accept devices, so that deployments reach them")
    c.add_argument("ids", nargs="*", help="device ids")
    c.add_argument("--all-pending", action="store_true", help="accept every pending device")
    c.add_argument("--attrs", type=_json_object,
                   help="JSON attributes to approve (default: what each device claimed)")
    c = client("revoke", "revoke a device's credential")
    c.add_argument("device_id")
    c = client("device", "one device's state, status history and last error")
    c.add_argument("device_id")
    client("failing", "devices whose install failed, with the error")
    client("audit", "the operator audit log")
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
        raise _UsageError("serve needs --publisher-token and --enroll-token (or the env vars)")
    if not cfg.publisher_keys and not cfg.signing_key:
        raise _UsageError("serve needs at least one --publisher-key to verify releases")
    uvicorn.run(create_app(cfg), host=a.host, port=a.port, log_level=a.log_level,
                access_log=False, backlog=8192, timeout_keep_alive=30)
    return 0


def _keygen(a: argparse.Namespace) -> int:
    from .signing import generate_key, private_key_pem, public_key_b64

    key = generate_key()
    out = Path(a.out)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DeployError(f"{out} exists: refusing to overwrite a key (choose another --out)") from None
    except OSError as exc:
        raise DeployError(f"cannot create {out}: {exc.strerror}") from None
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
        stages = [{"percent": x, "hold_s": a.hold} for x in a.stages]
        return await pub.deploy(a.task, a.version, policy=a.policy, stages=stages,
                                fail_threshold=a.fail_threshold, min_reports=a.min_reports)
    if a.cmd == "list":
        return await pub.get("/api/v1/deployments")
    if a.cmd == "devices":
        return await pub.get("/api/v1/devices" + (f"?state={a.state}" if a.state else ""))
    if a.cmd == "accept":
        if not a.ids and not a.all_pending:
            raise _UsageError("accept needs device ids or --all-pending")
        return await pub.accept(a.ids, a.all_pending, a.attrs)
    if a.cmd == "revoke":
        return await pub.action_path(f"/api/v1/devices/{a.device_id}/revoke")
    if a.cmd == "device":
        return await pub.get(f"/api/v1/devices/{a.device_id}")
    if a.cmd == "failing":
        return await pub.get("/api/v1/devices/failing")
    if a.cmd == "audit":
        return await pub.get("/api/v1/audit")
    if a.cmd == "rollback":
        return await pub.rollback(a.deployment)
    return await pub.action(a.deployment, a.cmd)


class _UsageError(DeployError):
    """A combination of arguments that argparse cannot check by itself (exit 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``walle deploy``; returns the exit status."""
    try:
        a = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    try:
        if a.cmd == "serve":
            return _serve(a)
        if a.cmd == "keygen":
            return _keygen(a)
        print(json.dumps(asyncio.run(_client(a)), indent=2))
        return 0
    except _UsageError as exc:
        print(f"walle deploy {a.cmd}: error: {exc}", file=sys.stderr)
        return 2
    except DeployError as exc:
        print(f"walle deploy {a.cmd}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split())
