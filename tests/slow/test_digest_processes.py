"""Digest runs in real processes against a real SMTP server on loopback: a `papercast digests
send` killed with SIGKILL after N of M messages and started again delivers every digest, with at
most one duplicate (the message in flight at the kill); a `papercast digests plan` killed half-way
and run again plans every digest once; two `papercast worker` processes on one PostgreSQL send a
run to 2,000 subscribers with no duplicate and no gap."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from sqlalchemy import func, select

from papercast.bootstrap import Papercast, build
from papercast.clock import ShiftedClock
from papercast.domain.subscriptions import Preferences
from papercast.settings import Settings
from papercast.storage.tables import digest_deliveries, mail_outbox
from support.digests import BASE, daily, import_subscribers, load_catalog
from support.smtp_server import ScriptedHandler, smtp_server

pytestmark = pytest.mark.slow

PAPERCAST = Path(sys.executable).parent / "papercast"
TESTS = Path(__file__).resolve().parents[1]
MORNING = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


class SlowHandler(ScriptedHandler):
    """Takes each message, then waits before answering: a sender killed meanwhile has one
    message in flight (the server has it, the sender never heard so)."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.pause)
        return answer


def environment(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("PAPERCAST_")}
    values = {"database_url": database_url, "data_dir": str(data_dir), "embedding_model": "hashing",
              "base_url": BASE, "mail_from": "Papercast <papers@example.org>", "smtp_security": "none",
              "log_level": "INFO", **settings}
    return {**base, **{f"PAPERCAST_{name.upper()}": value for name, value in values.items()},
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), base.get("PYTHONPATH")]))}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 300.0) -> Any:
    """Poll `condition` until it is true; fail naming `what` after `timeout` (nothing is timed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def papercast_on(env: dict[str, str]) -> Papercast:
    """Papercast for the test itself, its clock at MORNING (as `--at` sets the commands' clocks)."""
    return build(Settings.load(env=env), ShiftedClock(MORNING))


def subscribers(papercast: Papercast, count: int, preferences: Preferences) -> list[str]:
    emails = [f"reader{n:05d}@example.org" for n in range(count)]
    import_subscribers(papercast, [(email, preferences) for email in emails])
    return emails


def digest_counts(handler: ScriptedHandler) -> Counter[str]:
    return Counter(received.recipients[0] for received in handler.received
                   if str(received.message["Message-ID"]).startswith("<digest."))


def deliveries(papercast: Papercast) -> int:
    with papercast.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(digest_deliveries)).scalar_one())


def test_a_sender_killed_after_n_of_m_messages_loses_none_and_duplicates_at_most_one(
        database_url: str, tmp_path: Path) -> None:
    handler = SlowHandler(pause=0.2)
    with smtp_server(handler) as server:
        env = environment(database_url, tmp_path / "data", smtp_host="127.0.0.1", smtp_port=str(server.port),
                          mail_lease_seconds="60", digest_skip_empty="false")
        papercast = papercast_on(env)
        try:
            emails = subscribers(papercast, 30, daily("diffusion"))
            assert papercast.digests().plan(MORNING).queued == 30
        finally:
            papercast.close()
        at = (MORNING + timedelta(minutes=1)).isoformat()  # after the planning (its clock started first)
        log = (tmp_path / "sender.log").open("wb")
        sender = subprocess.Popen([str(PAPERCAST), "digests", "send", "--at", at], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        wait_for(lambda: len(handler.received) >= 10 or sender.poll() is not None, "10 of 30 digests sent")
        assert sender.poll() is None, (tmp_path / "sender.log").read_text()
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        taken_at_kill = len(handler.received)
        assert taken_at_kill < 30, "the sender finished before the kill: nothing was tested"
        # Started again once the killed sender's lease (60 s) has run out: `--at` moves its clock.
        later = (MORNING + timedelta(minutes=5)).isoformat()
        restarted = subprocess.run([str(PAPERCAST), "digests", "send", "--at", later, "--json"], env=env,
                                   capture_output=True, text=True, timeout=600)
        assert restarted.returncode == 0, restarted.stderr
    counts = digest_counts(handler)
    assert set(counts) == set(emails)  # none lost
    assert sum(count - 1 for count in counts.values()) <= 1  # one connection: one message in flight


def test_a_planner_killed_half_way_plans_every_digest_once_when_run_again(
        database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, tmp_path / "data", digest_skip_empty="false")
    papercast = papercast_on(env)
    try:
        load_catalog(papercast)
        emails = subscribers(papercast, 1500, daily("diffusion", "graph neural"))
        planner = subprocess.Popen([str(PAPERCAST), "digests", "plan", "--at", MORNING.isoformat()], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: deliveries(papercast) >= 100 or planner.poll() is not None,
                 "the first digests planned")
        planner.send_signal(signal.SIGKILL)
        planner.wait()
        planned_at_kill = deliveries(papercast)
        assert planned_at_kill < 1500, "the planner finished before the kill: nothing was tested"
        report = papercast.digests().plan(MORNING)
        assert report.queued == 1500 - planned_at_kill
        handler = ScriptedHandler()
        with smtp_server(handler) as server:
            env_send = {**env, "PAPERCAST_SMTP_HOST": "127.0.0.1", "PAPERCAST_SMTP_PORT": str(server.port)}
            sent = subprocess.run([str(PAPERCAST), "digests", "send", "--at", f"{MORNING.date()}T08:10:00Z"],
                                  env=env_send, capture_output=True, text=True, timeout=600)
            assert sent.returncode == 0, sent.stderr
        assert digest_counts(handler) == Counter(dict.fromkeys(emails, 1))  # no duplicate at all
    finally:
        papercast.close()


@pytest.mark.postgres
def test_two_workers_on_postgresql_send_2000_digests_with_no_duplicate_and_no_gap(
        postgres_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    zone = zone_at_noon(now)  # the workers run on the real clock: their digests are due now
    handler = ScriptedHandler()
    processes: list[subprocess.Popen[bytes]] = []
    with smtp_server(handler) as server:
        env = environment(postgres_url, tmp_path / "data", smtp_host="127.0.0.1", smtp_port=str(server.port),
                          digest_skip_empty="false", digest_plan_minutes="1", worker_interval="0.5")
        papercast = build(Settings.load(env=env))
        try:
            emails = subscribers(papercast, 2000, daily("diffusion", hour=12, zone=zone))
            logs = [(tmp_path / f"worker-{n}.log").open("wb") for n in range(2)]
            processes = [subprocess.Popen([str(PAPERCAST), "worker"], env=env, stdout=log,
                                          stderr=subprocess.STDOUT) for log in logs]
            wait_for(lambda: sum(digest_counts(handler).values()) >= 2000, "2,000 digests at the server",
                     timeout=900)
            with papercast.engine.connect() as connection:
                planned_by = connection.execute(select(func.count()).select_from(mail_outbox)
                                                .where(mail_outbox.c.kind == "digest")).scalar_one()
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=120)
            papercast.close()
    counts = digest_counts(handler)
    assert counts == Counter(dict.fromkeys(emails, 1))  # each exactly once: no duplicate, no gap
    assert planned_by == 2000 and deliveries_of(postgres_url) == 2000


def zone_at_noon(now: datetime) -> str:
    """A time zone where it is 12 o'clock at `now`: a digest sent at 12:00 there is due at once, and
    its local day ends hours after the run, whatever the time of day the tests run at (a subscriber
    whose day ended mid-run would get no digest, and a run near midnight UTC would test nothing)."""
    for name in sorted(available_timezones()):
        if name.count("/") == 1 and not name.startswith("Etc/") and now.astimezone(ZoneInfo(name)).hour == 12:
            return name
    raise AssertionError(f"no time zone has 12 o'clock at {now.isoformat()}")


def deliveries_of(database_url: str) -> int:
    papercast = build(Settings.load(env={}, database_url=database_url))
    try:
        return deliveries(papercast)
    finally:
        papercast.close()
