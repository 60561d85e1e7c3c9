"""The CLI's errors are one line (exit 2 for usage errors) and every subcommand answers
--help; auto-pause needs a sample that shows the failure rate is above the threshold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from helpers import KEY, PUB_TOKEN, accept, assignments, config, make_task, register, report, run, serving
from walle.deploy import Publisher
from walle.deploy.cli import _parser
from walle.deploy.cli import main as deploy_main

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = sorted(_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def _walle(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    return subprocess.run([sys.executable, "-m", "walle.cli", *args], env=env, text=True, check=False,
                          capture_output=True, timeout=60)


def test_walle_deploy_help() -> None:
    """Defect 11: ``walle deploy --help`` failed with "unrecognized arguments"."""
    res = _walle("deploy", "--help")
    assert res.returncode == 0 and "usage: walle deploy" in res.stdout, res.stderr
    assert "rollback" in res.stdout and "accept" in res.stdout


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_every_subcommand_answers_help(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy_main([cmd, "--help"]) == 0
    assert f"usage: walle deploy {cmd}" in capsys.readouterr().out


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Defect 11: tracebacks for keygen over an existing file, bad --policy JSON, bad
    --stages and an unreachable server."""
    key = tmp_path / "k.pem"
    assert deploy_main(["keygen", "--out", str(key)]) == 0
    capsys.readouterr()
    assert deploy_main(["keygen", "--out", str(key)]) == 1
    assert "exists: refusing to overwrite" in _one_line_error(capsys)
    dead = ["--server", "http://127.0.0.1:9", "--token", "t"]
    assert deploy_main(["deploy", "demo", "1.0.0", "--policy", "{regions: eu}", *dead]) == 2
    assert "--policy: not valid JSON" in _one_line_error(capsys)
    assert deploy_main(["deploy", "demo", "1.0.0", "--policy", "[1]", *dead]) == 2
    assert "must be a JSON object" in _one_line_error(capsys)
    assert deploy_main(["deploy", "demo", "1.0.0", "--stages", "10,x", *dead]) == 2
    assert "'x' is not a percentage" in _one_line_error(capsys)
    assert deploy_main(["deploy", "demo", "1.0.0", "--stages", "10,500", *dead]) == 2
    assert "500 is not in (0, 100]" in _one_line_error(capsys)
    assert deploy_main(["pause", "seven", *dead]) == 2
    _one_line_error(capsys)
    assert deploy_main(["list", *dead]) == 1
    assert "cannot reach the service at http://127.0.0.1:9" in _one_line_error(capsys)
    assert deploy_main(["accept", *dead]) == 2
    assert "device ids or --all-pending" in _one_line_error(capsys)
    assert deploy_main(["nonsense"]) == 2
    _one_line_error(capsys)


def test_auto_pause_needs_a_convincing_sample() -> None:
    """Defect 12: 4 failures in 20 (true rate 6%, threshold 10%) paused the rollout."""
    from walle.deploy.rollout import failure_verdict

    assert failure_verdict(4, 20, 0.10, 10) is None
    assert failure_verdict(30, 60, 0.10, 10) is not None
    assert failure_verdict(3, 5, 0.10, 10) is None  # under min_reports
    reason = failure_verdict(40, 100, 0.20, 20)
    assert reason is not None
    assert "40.0%" in reason and "40 of 100" in reason and "threshold 20.0%" in reason
    assert "lower bound 32.3%" in reason, reason


def test_auto_pause_through_the_service(tmp_path: Path) -> None:
    """Defect 12 end to end: reports from 20 devices, 4 failed: still active; once the
    failures are many enough to be sure, paused with the measured numbers as reason."""

    async def scenario() -> None:
        async with serving(config(tmp_path)) as (url, _), aiohttp.ClientSession() as s:
            pub = Publisher(url, PUB_TOKEN, KEY)
            await pub.publish(make_task(tmp_path, "demo", "1.0.0"))
            dep = await pub.deploy("demo", "1.0.0", stages=[100], fail_threshold=0.10,
                                   min_reports=10)
            tokens = [await register(s, url, f"d{i}") for i in range(60)]
            await accept(s, url, [f"d{i}" for i in range(60)])
            for i, tok in enumerate(tokens[:20]):
                assert "demo" in await assignments(s, url, tok)
                await report(s, url, tok, dep["id"], "failed" if i % 5 == 4 else "installed",
                             "model failed to load" if i % 5 == 4 else "")
            got = await pub.get(f"/api/v1/deployments/{dep['id']}")
            assert got["state"] == "active", got["reason"]
            assert got["counts"]["failed"] == 4 and got["counts"]["installed"] == 16
            for tok in tokens[20:]:
                await assignments(s, url, tok)
                await report(s, url, tok, dep["id"], "failed", "model failed to load")
            got = await pub.get(f"/api/v1/deployments/{dep['id']}")
            assert got["state"] == "paused", got
            assert "auto-paused: failure rate" in got["reason"]
            assert "reports failed; 95% lower bound" in got["reason"], got["reason"]
            detail = await pub.get("/api/v1/devices/d4")
            assert detail["last_error"]["detail"] == "model failed to load"
            assert [h["state"] for h in detail["history"]] == ["failed"]
            # the same numbers for Prometheus (prometheus_client's text format)
            async with s.get(f"{url}/metrics") as r:
                assert r.status == 401
            async with s.get(f"{url}/metrics",
                             headers={"Authorization": f"Bearer {PUB_TOKEN}"}) as r:
                assert r.status == 200 and r.content_type == "text/plain"
                text = await r.text()
            from prometheus_client.parser import text_string_to_metric_families

            samples = {(m.name, tuple(sorted(m.labels.items()))): m.value
                       for fam in text_string_to_metric_families(text) for m in fam.samples}
            labels = (("deployment", str(dep["id"])), ("status", "failed"), ("task", "demo"))
            assert samples[("walle_deploy_deployment_devices", labels)] == got["counts"]["failed"]
            assert samples[("walle_deploy_devices", (("state", "accepted"),))] == 60
            assert samples[("walle_deploy_deployments", (("state", "paused"),))] == 1
            assert samples[("walle_deploy_status_reports_total", ())] == 60

    run(scenario())
