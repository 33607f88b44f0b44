"""`papercast eval-recs` end to end: the report on the dev readers and its errors (the model
beating both baselines with the real encoder is in test_search_cli.py, beside search's own)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import run_papercast as papercast

DEV_READERS = 22  # the dev queries' simulated readers: 7 queries with three or more relevant papers


@pytest.fixture
def seeded(settings_env: dict[str, str], shared_data: Path) -> dict[str, str]:
    env = {**settings_env, "PAPERCAST_EMBEDDING_MODEL": "hashing"}
    assert papercast(env, "ingest", str(shared_data / "seed-papers.jsonl"))[0] == 0
    assert papercast(env, "embed")[0] == 0
    return env


def test_the_report_names_each_recommender_and_its_readers(seeded: dict[str, str], shared_data: Path) -> None:
    qrels = str(shared_data / "dev-queries.jsonl")
    code, out, _ = papercast(seeded, "eval-recs", qrels, "--json", "--draws", "2")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"model", "popularity", "nearest"}
    for metrics in report.values():
        assert metrics["readers"] == DEV_READERS
        assert 0 <= metrics["mrr@10"] <= metrics["hit@10"] <= 1
    code, out, _ = papercast(seeded, "eval-recs", qrels, "-k", "5")
    assert code == 0 and f"{DEV_READERS} simulated readers from 7 queries, 236 papers, at 5" in out
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["model", "popularity", "nearest"]


def test_files_it_cannot_use_are_one_line_naming_them(seeded: dict[str, str], tmp_path: Path) -> None:
    few = tmp_path / "few.jsonl"
    few.write_text('{"qid": "q1", "query": "x", "relevant": {"seed-001": 1, "seed-002": 1}}\n')
    code, _, err = papercast(seeded, "eval-recs", str(few))
    assert code == 2 and err.strip().splitlines() == [
        f"error: no query in {few} has 3 or more relevant papers with vectors"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"qid": "q1", "query": "x", "relevant": {"seed-001": 1}}\n{"qid": \n')
    code, _, err = papercast(seeded, "eval-recs", str(broken))
    assert code == 2 and "line 2" in err and "Traceback" not in err
    code, _, err = papercast(seeded, "eval-recs", str(few), "--draws", "0")
    assert code == 2 and "--draws" in err
