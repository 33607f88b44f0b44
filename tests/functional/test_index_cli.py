"""`papercast index status` and `papercast index rebuild`, and `papercast search`, over damaged
indexes: a message saying what is wrong and what to do, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papercast.index.follower import IndexFollower
from support.cli import run_papercast as papercast
from support.index_damage import KEYWORD_DAMAGE, VECTOR_DAMAGE


@pytest.fixture
def indexed(settings_env: dict[str, str], shared_data: Path) -> dict[str, str]:
    env = {**settings_env, "PAPERCAST_EMBEDDING_MODEL": "hashing"}
    assert papercast(env, "ingest", str(shared_data / "seed-papers.jsonl"))[0] == 0
    assert papercast(env, "embed")[0] == 0
    assert papercast(env, "index", "rebuild")[0] == 0
    return env


def _index_dir(env: dict[str, str]) -> Path:
    return Path(env["PAPERCAST_DATA_DIR"]) / "index"


@pytest.mark.parametrize("damage", ["keyword:segment-deleted", "keyword:tantivy-meta-corrupted",
                                    "vectors:ids-garbage"])
def test_status_names_the_damage_and_what_to_do_and_rebuild_repairs_it(
        indexed: dict[str, str], damage: str) -> None:
    index, kind = damage.split(":")
    (KEYWORD_DAMAGE if index == "keyword" else VECTOR_DAMAGE)[kind](_index_dir(indexed))
    code, out, err = papercast(indexed, "index", "status")
    assert code == 0 and "Traceback" not in out + err
    assert f"problem:  the {index} index cannot be trusted" in out
    assert "todo:     run `papercast index rebuild`" in out
    code, out, err = papercast(indexed, "index", "status", "--json")
    assert json.loads(out)[f"{'keyword' if index == 'keyword' else 'vector'}_problem"]

    code, out, err = papercast(indexed, "index", "rebuild", "--no-neighbours")
    assert code == 0 and "indexed 236 papers and 236 vectors" in out
    code, out, _ = papercast(indexed, "index", "status")
    assert "problem:" not in out and "keyword:  236 documents at sequence 236; lag 0 changes" in out


def test_search_repairs_a_damaged_index_and_answers(indexed: dict[str, str]) -> None:
    KEYWORD_DAMAGE["segment-zeroed"](_index_dir(indexed))
    code, out, err = papercast(indexed, "search", "neural turing machine external memory", "--json")
    assert code == 0 and "note: the keyword index was damaged or stale; it has been rebuilt" in err
    response = json.loads(out)
    assert response["mode"] == "hybrid" and "seed-101" in [hit["id"] for hit in response["results"][:3]]


def test_status_verify_finds_damage_only_a_checksum_shows(indexed: dict[str, str]) -> None:
    index = _index_dir(indexed)
    folder = index / json.loads((index / "keyword.json").read_text())["directory"]
    term = max(folder.glob("*.term"), key=lambda path: path.stat().st_size)
    data = bytearray(term.read_bytes())
    data[len(data) // 3: len(data) // 2] = bytes(len(data) // 2 - len(data) // 3)
    term.unlink()
    term.write_bytes(bytes(data))  # opens, and searches may even answer: only its checksum is wrong
    assert "problem:" not in papercast(indexed, "index", "status")[1]
    code, out, _ = papercast(indexed, "index", "status", "--verify")
    assert code == 0 and "problem:  the keyword index cannot be trusted" in out and "checksum" in out


def test_rebuild_refuses_while_another_process_writes_and_says_which(
        indexed: dict[str, str], tmp_path: Path) -> None:
    from support.apps import hashing_app

    writer = hashing_app(indexed["PAPERCAST_DATABASE_URL"], Path(indexed["PAPERCAST_DATA_DIR"]))
    try:
        follower: IndexFollower = writer.index_follower()
        follower.catch_up()
        code, _, err = papercast(indexed, "index", "rebuild")
        assert code == 2 and "Traceback" not in err
        assert f"error: another process (pid {follower.writer_pid()}) writes the search indexes" in err
        code, out, _ = papercast(indexed, "index", "status")
        assert code == 0 and "problem:" not in out
    finally:
        writer.close()
