"""`papercast demo`: a new install is not empty, and opens on a trending list of real papers
with their authors, dates and Hugging Face upvotes (the bundled daily-papers response)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from papercast.bootstrap import build
from papercast.cli.main import app
from papercast.settings import Settings
from papercast.web.app import create_app

runner = CliRunner()


def test_demo_loads_the_seed_corpus_and_real_trending_papers(settings_env: dict[str, str],
                                                             tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo"], env=settings_env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("266 new, 0 updated, 0 unchanged, 0 rejected")
    bundled = json.loads((files("papercast") / "data" / "hf-daily-papers-2026-06-12.json").read_text("utf-8"))
    with_upvotes = {entry["paper"]["id"]: entry["paper"]["upvotes"] for entry in bundled
                    if entry["paper"]["upvotes"] > 0}
    settings = Settings.load(env={}, data_dir=tmp_path / "data",
                             database_url=settings_env["PAPERCAST_DATABASE_URL"])
    papercast = build(settings)
    try:
        with TestClient(create_app(papercast.web_services())) as client:
            answer = client.get("/api/v1/trending?limit=50").json()
            home = client.get("/").text
    finally:
        papercast.close()
    assert answer["window"] == "trending" and answer["total"] == len(with_upvotes) == 29
    results = answer["results"]
    assert {result["paper"]["id"] for result in results} == set(with_upvotes)
    assert all(result["external_upvotes"] == with_upvotes[result["paper"]["id"]] for result in results)
    assert [result["score"] for result in results] == sorted((r["score"] for r in results), reverse=True)
    top = results[0]["paper"]
    assert top["id"] == "2606.13681" and top["announced_on"] == "2026-06-11" and top["authors"]
    assert "Trending papers" in home and top["title"][:40] in home
    again = runner.invoke(app, ["demo"], env=settings_env, catch_exceptions=False)
    assert "demo corpus not loaded" in again.stdout
