"""The operator page in headless Chromium: live counts render, the Pause button works, a
deployment is created from the form (after a confirmation), failing devices show their
error.

Driven over the Chrome DevTools Protocol; a screenshot is written to
``$WALLE_SCREENSHOT_DIR`` (default: the system temp dir) as walle-deploy-operator.png.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import (
    ENROLL_TOKEN,
    KEY,
    PUB_TOKEN,
    PUBKEY,
    config,
    free_port,
    make_task,
    run,
    serving,
    wait_until,
)
from walle.deploy import Device, Publisher

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class CDP:
    """Just enough of the DevTools protocol: evaluate JS and take a screenshot."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.ids = ws, itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        await self.ws.send_json({"id": msg_id, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive_json(), 20)
            if msg.get("id") == msg_id:
                return dict(msg.get("result", {}))

    async def js(self, expr: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return res.get("result", {}).get("value")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_operator_page(tmp_path: Path) -> None:
    shot = Path(os.environ.get("WALLE_SCREENSHOT_DIR", tempfile.gettempdir()))
    shot = shot / "walle-deploy-operator.png"

    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            def broken(task: str, version: str, where: Path) -> None:
                raise RuntimeError("GPU delegate missing")

            devs = [Device(url, tmp_path / f"d{i}", [PUBKEY], enroll_token=ENROLL_TOKEN,
                           session=s, device_id=f"dev-{i}", attrs={"user_id": f"u{i}"},
                           on_installed=broken if i == 0 else None)
                    for i in range(30)]
            port = free_port()
            browser = await asyncio.create_subprocess_exec(
                str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu",
                 "--no-first-run", f"--remote-debugging-port={port}",
                 "--remote-debugging-address=127.0.0.1", f"--user-data-dir={tmp_path / 'chrome'}",
                "--window-size=1500,560", f"{url}/ui#token={PUB_TOKEN}",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:
                await asyncio.gather(*(d.start() for d in devs))
                pub = Publisher(url, PUB_TOKEN, KEY)
                await pub.accept(all_pending=True)
                await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
                await pub.publish(make_task(tmp_path, "camera-filter", "2.1.0"))
                done = await pub.deploy("demo", "1.0.0", stages=[100])
                dep = await pub.deploy("camera-filter", "2.1.0", stages=[30, 60, 100], salt="x")
                await wait_until(lambda: all(done["id"] in d.results for d in devs), 30, "installs")

                async def pages() -> list[dict[str, Any]]:
                    try:
                        async with s.get(f"http://127.0.0.1:{port}/json") as r:
                            return [p for p in await r.json() if p.get("type") == "page"]
                    except aiohttp.ClientError:
                        return []

                await wait_until(pages, 30, "chromium devtools")
                target = (await pages())[0]["webSocketDebuggerUrl"]
                async with s.ws_connect(target, max_msg_size=0) as ws:
                    cdp = CDP(ws)
                    rows = "document.querySelectorAll('#rows tr').length"
                    await wait_until(lambda: _eq(cdp.js(rows), 2), 20, "two rows rendered")
                    text = await cdp.js("document.body.innerText")
                    assert "camera-filter" in text and "30 devices registered" in text
                    click = ("[...document.querySelectorAll('#rows tr')].find(r => "
                             "r.innerText.includes('camera-filter')).querySelector('button').click()")
                    await cdp.js(click)  # the first button of the row is Pause
                    await wait_until(lambda: _state(pub, dep["id"], "paused"), 20, "paused via page")
                    await wait_until(lambda: _contains(cdp.js("document.body.innerText"),
                                                       "Pause: deployment"), 20, "page message")
                    # the failing device and its error are listed
                    await wait_until(lambda: _contains(cdp.js("$('failing').innerText"),
                                                       "GPU delegate missing"), 20, "failing list")
                    assert "dev-0" in await cdp.js("$('failing').innerText")
                    # a deployment made from the form, confirmed in the dialog
                    await cdp.js("window.confirmed = []; window.confirm = (t) => "
                                 "(window.confirmed.push(t), true)")
                    await wait_until(lambda: _contains(cdp.js("$('release').innerText"),
                                                       "demo 1.0.0"), 20, "releases listed")
                    await cdp.js("$('release').value = JSON.stringify(['demo', '1.0.0']);"
                                 "$('stages').value = '20,100';"
                                 "$('policy').value = '{\"deny\": [\"u3\"]}';"
                                 "$('create').requestSubmit()")
                    await wait_until(lambda: _eq(cdp.js(rows), 3), 20, "a third row")
                    made = (await pub.get("/api/v1/deployments"))[0]
                    assert made["task"] == "demo" and made["policy"]["deny"] == ["u3"]
                    assert [s["percent"] for s in made["stages"]] == [20, 100]
                    assert "Deploy demo 1.0.0" in str(await cdp.js("window.confirmed"))
                    png = await cdp.call("Page.captureScreenshot", format="png")
                    shot.write_bytes(base64.b64decode(png["data"]))
                assert shot.stat().st_size > 10_000
            finally:
                browser.kill()
                await asyncio.wait_for(browser.wait(), 10)
                await asyncio.gather(*(d.stop() for d in devs))

    run(scenario(), timeout=120)


async def _eq(value: Any, want: Any) -> bool:
    return bool(await value == want)


async def _contains(value: Any, needle: str) -> bool:
    return needle in str(await value)


async def _state(pub: Publisher, dep_id: int, want: str) -> bool:
    return bool((await pub.get(f"/api/v1/deployments/{dep_id}"))["state"] == want)
