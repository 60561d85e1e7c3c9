"""The session's skip judgement (tests/environment_check.py): a skip for a requirement this
machine has is a failure, one for a requirement it lacks is not."""

from __future__ import annotations

from environment_check import SkipReport


def _report(present: dict[str, bool]) -> SkipReport:
    report = SkipReport()
    report._present.update(present)
    return report


def test_a_skip_for_a_present_backend_is_a_problem():
    report = _report({"opencl": True, "vulkan": False})
    report.add(("t.py", 1, "Skipped: opencl backend unavailable: no ICD"))
    report.add(("t.py", 2, "Skipped: vulkan: not in this build"))
    problems = report.skip_problems()
    assert len(problems) == 1 and "opencl" in problems[0]


def test_a_skip_for_what_the_machine_lacks_is_fine():
    report = _report({"chromium": False, "postgresql": False})
    report.add(("t.py", 1, "chromium not installed (apt-get install chromium)"))
    report.add(("t.py", 2, "PostgreSQL binaries (initdb, pg_ctl) not found"))
    assert report.skip_problems() == []
    assert report.skips == {"chromium not installed (apt-get install chromium)": 1,
                            "PostgreSQL binaries (initdb, pg_ctl) not found": 1}
