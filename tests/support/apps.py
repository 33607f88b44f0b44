"""Papercast apps over a test database with the hashing encoder (no model to load), and file
ingest into them: what the index tests build their catalogs with."""

from __future__ import annotations

from pathlib import Path

from papercast.bootstrap import Papercast, build
from papercast.settings import Settings
from papercast.sources.minimal_jsonl import MinimalJsonlSource


def hashing_app(database_url: str, data_dir: Path) -> Papercast:
    settings = Settings.load(env={}, data_dir=data_dir, database_url=database_url, embedding_model="hashing")
    return build(settings)


def ingest_file(app: Papercast, path: Path) -> None:
    """Ingest a `{"id", "title", "abstract"}` JSON-lines file."""
    source = MinimalJsonlSource(path)
    app.ingest.ingest(source.items(), source.name)
