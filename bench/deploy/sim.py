"""One simulator process: ``count`` real :class:`walle.deploy.Device` clients on asyncio.

Protocol with the coordinator (``fleet.py``): print ``READY`` once every device is
registered (and connected, in push mode); then, when all have installed (or at the
deadline) and every status report is acknowledged, print one JSON line with the wall-clock
install times and the number of acknowledged reports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import aiohttp
from walle.deploy import Device


async def main(a: argparse.Namespace) -> None:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=a.pool))
    ws = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    installed: dict[str, float] = {}

    def record(dev_id: str, where: Path) -> None:
        installed[dev_id] = time.time()
        if a.drop_installed:  # keep N x 1 MB of unpacked copies off the disk
            shutil.rmtree(where, ignore_errors=True)

    devices = [
        Device(a.server, Path(a.dir) / f"d{i}", [a.pubkey], enroll_token=a.enroll,
               device_id=f"sim-{i}", attrs={"user_id": f"user-{i}", "os": "android"},
               session=http, ws_session=ws, mode=a.mode, poll_interval_s=a.poll,
               heartbeat_s=None,
               on_installed=lambda t, v, w, d=f"sim-{i}": record(d, w))
        for i in range(a.start, a.start + a.count)
    ]
    sem = asyncio.Semaphore(100)

    async def start(d: Device) -> None:
        async with sem:
            await d.start()

    await asyncio.gather(*(start(d) for d in devices))
    if a.mode == "push":
        await asyncio.wait_for(asyncio.gather(*(d.connected.wait() for d in devices)), 120)
    print("READY", flush=True)
    deadline = time.time() + a.timeout

    def finished() -> int:  # installed, or failed with the reason reported
        return len(installed) + sum(r[0] == "failed" for d in devices for r in d.results.values())

    while finished() < a.count and time.time() < deadline:
        await asyncio.sleep(0.1)
    failed = sum(r[0] == "failed" for d in devices for r in d.results.values())
    flushed = await asyncio.gather(*(d.reporter.flushed(120) for d in devices),  # type: ignore[union-attr]
                                   return_exceptions=True)
    unflushed = sum(isinstance(x, BaseException) for x in flushed)
    acked = sum(d.reporter.sent for d in devices)  # type: ignore[union-attr]
    print(json.dumps({"installed_at": list(installed.values()), "acked": acked,
                      "failed": failed, "unflushed_devices": unflushed}), flush=True)
    await asyncio.gather(*(d.stop() for d in devices), return_exceptions=True)
    await http.close()
    await ws.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    for name in ("server", "pubkey", "enroll", "dir", "mode"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--start", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--poll", type=float, default=30.0)
    ap.add_argument("--pool", type=int, default=128)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--drop-installed", action="store_true")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args))
    sys.exit(0)
