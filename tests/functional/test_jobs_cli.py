"""`papercast jobs list|show|retry|cancel` and `papercast worker --once` as an operator runs them,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from papercast.bootstrap import Papercast, build
from papercast.cli.main import app
from papercast.domain.jobs import JobEvent
from papercast.settings import Settings
from support import job_kinds

runner = CliRunner()


@pytest.fixture
def env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "PAPERCAST_EMBEDDING_MODEL": "hashing"}


@pytest.fixture
def papercast(env: dict[str, str]) -> Iterator[Papercast]:
    papercast = build(Settings.load(env=env))
    yield papercast
    papercast.close()


def cli(env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def _dead_job(papercast: Papercast, kind: str = "test.record") -> int:
    job_id = papercast.jobs.enqueue(kind, {"n": 1})
    assert job_id is not None and papercast.jobs.claim("w", [kind], timedelta(seconds=30)) is not None
    papercast.jobs.fail(job_id, "w", JobEvent.GIVE_UP, "Traceback (most recent call last):\n"
                        '  File "x.py", line 1\nRuntimeError: the disk is full', None)
    return job_id


def test_list_and_show_say_what_failed_and_where(env: dict[str, str], papercast: Papercast) -> None:
    dead = _dead_job(papercast)
    due = papercast.jobs.enqueue("test.other", unique_key="other@1")
    table = cli(env, "jobs", "list")
    assert table.exit_code == 0
    assert "RuntimeError: the disk is full" in table.output and "test.other" in table.output
    listed = json.loads(cli(env, "jobs", "list", "--state", "dead", "--json").output)
    assert [(job["id"], job["state"], job["lease_expired"]) for job in listed["jobs"]] == [
        (dead, "dead", False)]
    by_kind = json.loads(cli(env, "jobs", "list", "--kind", "test.other", "--json").output)
    assert [job["id"] for job in by_kind["jobs"]] == [due]
    shown = json.loads(cli(env, "jobs", "show", str(dead), "--json").output)
    assert shown["payload"] == {"n": 1} and shown["last_error"].endswith("RuntimeError: the disk is full")
    text = cli(env, "jobs", "show", str(due)).output
    assert "unique key: other@1" in text and "state:      due" in text


def test_a_running_job_whose_lease_expired_is_marked(env: dict[str, str], papercast: Papercast) -> None:
    papercast.jobs.enqueue("test.record")
    papercast.jobs.claim("gone-worker", ["test.record"], timedelta(seconds=1))
    papercast.clock.sleep(1.1)
    assert "running (lease expired)" in cli(env, "jobs", "list").output
    assert json.loads(cli(env, "jobs", "list", "--json").output)["jobs"][0]["lease_expired"] is True


def test_retry_and_cancel_change_each_job_they_can_and_name_the_others(
        env: dict[str, str], papercast: Papercast) -> None:
    dead = _dead_job(papercast)
    retried = cli(env, "jobs", "retry", str(dead), "--json")
    assert retried.exit_code == 0
    assert [(job["id"], job["state"], job["attempts"]) for job in json.loads(retried.output)["jobs"]] == [
        (dead, "due", 0)]
    mixed = cli(env, "jobs", "cancel", str(dead), "9999", str(dead))
    assert mixed.exit_code == 1
    assert f"job {dead} (test.record) is now dead" in mixed.output
    assert "error: job 9999: no job 9999" in mixed.output
    assert f"error: job {dead}: a dead job cannot be cancelled" in mixed.output
    assert papercast.jobs.get(dead).last_error == "cancelled by an operator"


def test_bad_arguments_get_one_line(env: dict[str, str], papercast: Papercast) -> None:
    unknown = cli(env, "jobs", "list", "--state", "stuck")
    assert unknown.exit_code == 2 and "unknown job state 'stuck'; use one of due, running" in unknown.output
    missing = cli(env, "jobs", "show", "41")
    assert missing.exit_code == 1 and missing.output.strip() == "error: no job 41"
    assert cli(env, "jobs", "list").output.strip() == "no jobs"


def test_worker_once_runs_what_is_due_and_says_so(env: dict[str, str], papercast: Papercast,
                                                  shared_data: Path) -> None:
    assert cli(env, "ingest", str(shared_data / "seed-papers.jsonl"), "--format", "jsonl").exit_code == 0
    done = cli(env, "worker", "--once", "--embed-batch", "200")
    assert done.exit_code == 0, done.output
    # embed-backlog twice (200 + 36), prune-jobs, prune-accounts; no mail is due, so no send-mail
    assert done.output.strip() == ("ran 4 jobs (continued 1, done 3); follow-index 472, similar-papers 236")
    assert papercast.index_follower().status().embeddings_pending == 0
    nothing = cli(env, "worker", "--once")
    assert nothing.output.strip() == "ran 0 jobs; follow-index 0, similar-papers 0"


def test_worker_once_exits_1_when_a_job_failed(env: dict[str, str], papercast: Papercast) -> None:
    job_kinds.create_table(papercast.engine)
    papercast.jobs.enqueue("test.record", {"fail_times": 1})
    failed = cli({**env, "PAPERCAST_WORKER_TASK_MODULES": "support.job_kinds"}, "worker", "--once")
    assert failed.exit_code == 1 and "(done 2, failed 1)" in failed.output  # and the two prunes did theirs
