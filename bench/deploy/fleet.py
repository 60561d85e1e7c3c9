"""Fleet benchmark: publish a 1 MB bundle to N simulated devices over loopback.

The service runs as its own process (``python -m walle.deploy serve``, SQLite) so its CPU
and memory can be measured; the devices are real :class:`walle.deploy.Device` clients,
thousands per process on asyncio, each with its own state directory, verifying the
signature and sha256 and installing atomically (unpack + rename).

    PYTHONPATH=python python bench/deploy/fleet.py --devices 1000 10000 --mode push poll
    # chaos: SIGKILL the service 5 s into the rollout, restart it 60 s later
    PYTHONPATH=python python bench/deploy/fleet.py --devices 2000 --mode push --kill-after 5 --down 60

Reports time from the deployment request to 50/99/100% installed, server CPU seconds
and peak RSS during the rollout, idle server CPU per second before it (the standing cost
of keeping the fleet informed), health-probe latency during the rollout, and whether
every status report reached the database; with chaos, how many devices ended failed
(with their reason reported) and how many are stuck (neither installed nor failed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from walle.deploy import Publisher
from walle.deploy.signing import generate_key, public_key_b64

PUB, ENROLL = "bench-pub", "bench-enroll"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _task_dir(root: Path, version: str, size: int) -> Path:
    d = root / f"task-{version}"
    d.mkdir(parents=True)
    (d / "task.toml").write_text(f'name = "bench"\nversion = "{version}"\nentry = "main:run"\n')
    (d / "main.py").write_text("def run(ctx):\n    return 1\n")
    (d / "model.bin").write_bytes(os.urandom(size))  # incompressible: the archive stays ~size
    return d


class Server:
    """The service in a child process, with CPU/RSS sampling."""

    def __init__(self, work: Path, pubkey: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [sys.executable, "-m", "walle.deploy", "serve", "--port", str(self.port),
                    "--db", f"sqlite:///{work / 'deploy.db'}", "--data-dir", str(work / "data"),
                    "--publisher-token", PUB, "--enroll-token", ENROLL, "--publisher-key", pubkey,
                    "--log-level", "warning"]
        self.peak_rss = 0
        self.cpu_before = 0.0  # CPU of processes killed by the chaos option
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env=os.environ | {"PYTHONUNBUFFERED": "1"})
        self.ps = psutil.Process(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what was not committed is lost."""
        self.cpu_before += self.cpu() - self.cpu_before
        self.proc.kill()
        self.proc.wait(20)

    def cpu(self) -> float:
        try:
            t = self.ps.cpu_times()
        except psutil.NoSuchProcess:
            return self.cpu_before
        return self.cpu_before + t.user + t.system

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _probe(url: str, lat: list[float], stop: asyncio.Event) -> None:
    # A separate session: the probe must not queue behind the fleet's connection pool.
    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            t = time.perf_counter()
            try:
                async with s.get(url + "/healthz", timeout=aiohttp.ClientTimeout(total=10)) as r:
                    await r.read()
                lat.append(time.perf_counter() - t)
            except (TimeoutError, aiohttp.ClientError):
                lat.append(10.0)
            await asyncio.sleep(0.1)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


async def _sim(args: list[str], ready: asyncio.Event, out: list[dict[str, Any]]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("sim.py")), *args,
        stdout=asyncio.subprocess.PIPE, limit=1 << 26)
    assert proc.stdout is not None
    async for raw in proc.stdout:
        line = raw.decode().strip()
        if line == "READY":
            ready.set()
        elif line.startswith("{"):
            out.append(json.loads(line))
    if await proc.wait() != 0:
        raise RuntimeError(f"simulator exited with {proc.returncode}")


async def _chaos(server: Server, after_s: float, down_s: float) -> None:
    """SIGKILL the service ``after_s`` into the rollout and restart it ``down_s`` later."""
    await asyncio.sleep(after_s)
    server.kill()
    await asyncio.sleep(down_s)
    server.start()


async def run_one(n: int, mode: str, size: int, poll_s: float, idle_s: float,
                  timeout_s: float, procs: int, drop: bool,
                  kill_after_s: float | None = None, down_s: float = 60.0) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"walle-bench-{n}-{mode}-", dir=os.environ.get("BENCH_DIR")))
    key = generate_key()
    server = Server(work, public_key_b64(key))
    sims: list[asyncio.Task[None]] = []
    try:
        async with aiohttp.ClientSession() as http:
            async def up() -> bool:
                try:
                    async with http.get(server.url + "/healthz") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await _wait(up, 60, "server start")
        pub = Publisher(server.url, PUB, key)
        results: list[dict[str, Any]] = []
        readies = [asyncio.Event() for _ in range(procs)]
        t = time.monotonic()
        for k in range(procs):
            lo, hi = k * n // procs, (k + 1) * n // procs
            args = ["--server", server.url, "--pubkey", public_key_b64(key), "--enroll", ENROLL,
                    "--dir", str(work / "fleet"), "--mode", mode, "--start", str(lo),
                    "--count", str(hi - lo), "--poll", str(poll_s), "--timeout", str(timeout_s)]
            sims.append(asyncio.create_task(_sim(args + (["--drop-installed"] if drop else []),
                                                 readies[k], results)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 300)
        accepted = (await pub.accept(all_pending=True))["accepted"]  # the operator approves
        assert accepted == n, f"{accepted} of {n} devices accepted"
        setup_s = time.monotonic() - t
        # idle cost: the standing load of keeping N devices informed with nothing to do
        c0, w0 = server.cpu(), time.monotonic()
        await asyncio.sleep(idle_s)
        idle_cpu = (server.cpu() - c0) / (time.monotonic() - w0)
        await pub.publish(_task_dir(work, "1.0.0", size))
        lat: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(server.url, lat, stop))
        cpu0, server.peak_rss = server.cpu(), 0
        t0 = time.time()
        dep = await pub.deploy("bench", "1.0.0", stages=[100])
        chaos = None if kill_after_s is None else asyncio.create_task(
            _chaos(server, kill_after_s, down_s))
        done = asyncio.gather(*sims)
        while not done.done():
            with contextlib.suppress(psutil.NoSuchProcess):
                server.sample()
            await asyncio.sleep(0.1)
        await done
        if chaos is not None:
            await chaos
        cpu = server.cpu() - cpu0
        stop.set()
        await probe
        counts = (await pub.get(f"/api/v1/deployments/{dep['id']}"))["counts"]
        times = sorted(x - t0 for r in results for x in r["installed_at"])
        acked = sum(r["acked"] for r in results)
        failed = sum(r.get("failed", 0) for r in results)

        def at(q: float) -> float | None:
            k = max(1, round(q * n))
            return round(times[k - 1], 2) if len(times) >= k else None

        return {
            "devices": n, "mode": mode, "bundle_bytes": size, "sim_processes": procs,
            "poll_interval_s": poll_s if mode == "poll" else None, "setup_s": round(setup_s, 1),
            "t50_s": at(0.5), "t99_s": at(0.99), "t100_s": at(1.0), "installed": len(times),
            "server_cpu_s": round(cpu, 1), "server_peak_rss_mb": round(server.peak_rss / 2**20),
            "server_idle_cpu_per_s": round(idle_cpu, 3),
            "health_p50_ms": round(1000 * _pct(lat, 0.5), 1),
            "health_p99_ms": round(1000 * _pct(lat, 0.99), 1),
            "health_max_ms": round(1000 * max(lat, default=float("nan")), 1),
            "reports_acked": acked, "db_counts": counts,
            "lost_reports": acked - counts["downloaded"] - counts["installed"] - counts["failed"],
            "failed_with_reason": failed, "stuck": n - len(times) - failed,
            "devices_with_unacked_reports": sum(r.get("unflushed_devices", 0) for r in results),
            "chaos": None if kill_after_s is None else
            f"SIGKILL {kill_after_s:g} s into the rollout, down {down_s:g} s",
        }
    finally:
        for s in sims:
            s.cancel()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--mode", nargs="+", default=["push", "poll"], choices=["push", "poll"])
    ap.add_argument("--bundle-bytes", type=int, default=1 << 20)
    ap.add_argument("--poll-interval", type=float, default=30.0)
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle load measured")
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--procs", type=int, default=2, help="simulator processes")
    ap.add_argument("--keep-installed", action="store_true",
                    help="keep every device's unpacked copy (N x bundle size on disk)")
    ap.add_argument("--out", help="append JSON lines here")
    ap.add_argument("--kill-after", type=float,
                    help="chaos: SIGKILL the service this many seconds into the rollout")
    ap.add_argument("--down", type=float, default=60.0, help="chaos: seconds before restart")
    a = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    for n in a.devices:
        for mode in a.mode:
            res = asyncio.run(run_one(n, mode, a.bundle_bytes, a.poll_interval, a.idle, a.timeout,
                                      a.procs, not a.keep_installed, a.kill_after, a.down))
            line = json.dumps(res)
            print(line, flush=True)
            if a.out:
                with open(a.out, "a") as fh:
                    fh.write(line + "\n")


if __name__ == "__main__":
    main()
