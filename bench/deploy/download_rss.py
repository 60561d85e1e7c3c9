"""Service memory while many devices download one large bundle at once.

The service runs as its own process (``python -m walle.deploy serve``, SQLite); a random
bundle of ``--size-mb`` is uploaded, then ``--parallel`` clients download it in full at
the same time while the service's RSS is sampled every 10 ms.

    PYTHONPATH=python python bench/deploy/download_rss.py --size-mb 300 --parallel 8

Prints the RSS before, the peak during the downloads, the growth, and the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

PUB, ENROLL = "rss-pub", "rss-enroll"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    from walle.deploy.signing import generate_key, public_key_b64

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root / "python"),
               WALLE_DEPLOY_PUBLISHER_TOKEN=PUB, WALLE_DEPLOY_ENROLL_TOKEN=ENROLL)
    return subprocess.Popen(
        [sys.executable, "-m", "walle.deploy", "serve", "--port", str(port),
         "--db", f"sqlite:///{tmp / 'deploy.db'}", "--data-dir", str(tmp / "data"),
         "--publisher-key", public_key_b64(generate_key()), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _random_file(path: Path, size_mb: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        for _ in range(size_mb):
            chunk = os.urandom(1 << 20)
            h.update(chunk)
            fh.write(chunk)
    return h.hexdigest()


async def measure(size_mb: int, parallel: int, tmp: Path) -> dict[str, Any]:
    """Upload a bundle of ``size_mb`` and download it ``parallel`` times at once."""
    blob = tmp / "bundle.bin"
    sha = await asyncio.to_thread(_random_file, blob, size_mb)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _spawn(tmp, port)
    auth = {"Authorization": f"Bearer {PUB}"}
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(300):
                try:
                    async with s.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            with open(blob, "rb") as fh:  # noqa: ASYNC230 - aiohttp streams the open file
                async with s.put(f"{url}/api/v1/blobs/{sha}", data=fh, headers=auth) as r:
                    assert r.status == 201, await r.text()
            async with s.get(f"{url}/bundles/{sha}", headers=auth | {"Range": "bytes=0-1023"}) as r:
                assert r.status == 206  # warm the download path
            server = psutil.Process(proc.pid)
            base = server.memory_info().rss
            peak = base
            done = asyncio.Event()

            async def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, server.memory_info().rss)
                    await asyncio.sleep(0.01)

            async def one() -> int:
                n, d = 0, hashlib.sha256()
                async with s.get(f"{url}/bundles/{sha}", headers=auth) as r:
                    assert r.status == 200
                    async for chunk in r.content.iter_chunked(1 << 20):
                        n += len(chunk)
                        d.update(chunk)
                assert d.hexdigest() == sha, "downloaded bytes differ"
                return n

            sampler = asyncio.create_task(sample())
            t0 = time.perf_counter()
            sizes = await asyncio.gather(*(one() for _ in range(parallel)))
            elapsed = time.perf_counter() - t0
            done.set()
            await sampler
    finally:
        proc.kill()
        proc.wait(10)
    return {"size_mb": size_mb, "parallel": parallel, "rss_before_mb": round(base / 2**20, 1),
            "rss_peak_mb": round(peak / 2**20, 1), "rss_growth_mb": round((peak - base) / 2**20, 1),
            "seconds": round(elapsed, 2),
            "mb_per_s": round(sum(sizes) / 2**20 / elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=int, default=300)
    ap.add_argument("--parallel", type=int, default=8)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="walle-rss-") as tmp:
        print(json.dumps(asyncio.run(measure(a.size_mb, a.parallel, Path(tmp)))))


if __name__ == "__main__":
    main()
