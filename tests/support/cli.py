"""Running `papercast` commands in process, as a user would, for the functional tests."""

from __future__ import annotations

from typer.testing import CliRunner

from papercast.cli.main import app

runner = CliRunner()


def run_papercast(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `papercast ARGS` under the environment `env`."""
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr
