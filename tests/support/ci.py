"""Under CI a skip is a failure: there, a test that skips is a test that promised to run and did not.

A pytest plugin (tests/conftest.py takes its hooks). On a developer's machine a test may skip for
what the machine lacks (PostgreSQL, the model, a browser) and says why; with `CI` set, the same
skip fails with that reason. Expected failures (`xfail`) are not skips and stay as they are.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

NOT_CI = {"", "0", "false", "no"}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in NOT_CI


TestReportHook = Generator[None, pytest.TestReport, pytest.TestReport]
CollectReportHook = Generator[None, pytest.CollectReport, pytest.CollectReport]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> TestReportHook:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and under_ci():
        _fail_instead(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> CollectReportHook:
    report = yield  # a module that skips itself, e.g. with a module-level importorskip
    if report.skipped and under_ci():
        _fail_instead(report)
    return report


def _fail_instead(report: pytest.TestReport | pytest.CollectReport) -> None:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI, where every test must run: {reason.removeprefix('Skipped: ')}"
