"""`papercast trending list|status|rescore`, and the worker scoring the catalog again when the
trending weights or tau in the settings change, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from papercast.cli.main import app

runner = CliRunner()


def cli(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_changed_weights_are_seen_and_the_worker_scores_again(settings_env: dict[str, str]) -> None:
    settings_env = {**settings_env, "PAPERCAST_EMBEDDING_MODEL": "hashing"}  # the worker embeds too
    cli(settings_env, "demo")
    assert json.loads(cli(settings_env, "trending", "status", "--json"))["scores_current"] is True
    top = json.loads(cli(settings_env, "trending", "list", "--limit", "3", "--json"))
    assert [result["id"] for result in top["results"]] == ["2606.13681", "2606.13392", "2606.13289"]
    assert top["results"][0]["points"] == 59.0  # 118 Hugging Face upvotes at weight 0.5

    heavier = {**settings_env, "PAPERCAST_TRENDING_EXTERNAL_WEIGHT": "2",
               "PAPERCAST_TRENDING_TAU_HOURS": "12"}
    assert "made with other parameters" in cli(heavier, "trending", "status")
    cli(heavier, "worker", "--once")  # the rescore-trending task is wanted, and runs
    status = json.loads(cli(heavier, "trending", "status", "--json"))
    assert status == {"parameters": {"upvote_weight": 1.0, "save_weight": 1.0, "external_weight": 2.0,
                                     "tau_seconds": 43200.0}, "scores_current": True}
    rescored = json.loads(cli(heavier, "trending", "list", "--limit", "1", "--json"))["results"][0]
    assert rescored["points"] == 236.0
    assert "scored 266 papers again" in cli(settings_env, "trending", "rescore")
    assert json.loads(cli(settings_env, "trending", "status", "--json"))["scores_current"] is True


def test_an_unknown_window_is_one_line(settings_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["trending", "list", "--window", "fortnight"], env=settings_env)
    assert result.exit_code == 2 and "window must be one of trending, today, week, month" in result.output
