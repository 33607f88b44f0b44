"""`papercast serve` refuses an out-of-date schema before listening, with the upgrade message."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from papercast.cli.main import app
from papercast.storage import migrations
from papercast.storage.engine import create_database_engine

runner = CliRunner()


def test_serve_refuses_an_old_schema(settings_env: dict[str, str], tmp_path: Path) -> None:
    engine = create_database_engine(settings_env["PAPERCAST_DATABASE_URL"])
    migrations.upgrade(engine, "0001_catalog")
    engine.dispose()
    result = runner.invoke(app, ["serve", "--port", "1"], env=settings_env)
    assert result.exit_code == 2
    assert "error: the database schema is at revision 0001_catalog" in result.stderr
    assert "run `papercast db upgrade`" in result.stderr


def test_serve_help_lists_its_options() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--no-worker", "--workers"):
        assert option in result.stdout
