"""Ways a search index directory gets damaged (a crash, a full disk, a careless hand), each a
function of `<data_dir>/index`. Files are replaced, never rewritten in place: a process that has
them memory-mapped would otherwise crash (SIGBUS) instead of showing how papercast copes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

Damage = Callable[[Path], None]


def keyword_directory(index: Path) -> Path:
    """The current keyword index directory (`keyword/` in the layout before `keyword.json`)."""
    pointer = index / "keyword.json"
    return index / json.loads(pointer.read_text())["directory"] if pointer.exists() else index / "keyword"


def _largest(folder: Path, pattern: str) -> Path:
    return max(folder.glob(pattern), key=lambda path: path.stat().st_size)


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def delete(path: Path) -> None:
    path.unlink()


def truncate(path: Path) -> None:
    data = path.read_bytes()
    _replace(path, data[: len(data) // 2])


def zero(path: Path) -> None:
    _replace(path, bytes(path.stat().st_size))


def garbage(path: Path) -> None:
    _replace(path, b"{not json at all")


def _on_keyword(pick: Callable[[Path], Path], harm: Callable[[Path], None]) -> Damage:
    return lambda index: harm(pick(keyword_directory(index)))


def _on_vectors(pick: Callable[[Path], Path], harm: Callable[[Path], None]) -> Damage:
    return lambda index: harm(pick(index / "vectors"))


def _segment(folder: Path) -> Path:
    return _largest(folder, "*.idx")


def _lists(folder: Path) -> Path:
    return _largest(folder, "*.lists.npy") if any(folder.glob("*.lists.npy")) else \
        _largest(folder, "neighbours-*.npy")


def _keyword_state_of_another_database(index: Path) -> None:
    state = keyword_directory(index) / "index-state.json"
    _replace(state, json.dumps({"schema_version": 1, "last_change_seq": 10**9}).encode())


def _vector_meta_of_an_older_generation(index: Path) -> None:
    """meta.json put back from an earlier save, whose segment files are gone."""
    meta = index / "vectors" / "meta.json"
    older = json.loads(meta.read_text())
    older["generation"] = 0
    for segment in older.get("segments", []):
        segment["name"] = "s00000000-0badc0de"
    if "segments" not in older:  # the layout before segments: a generation per whole save
        older["generation"] = "0badc0de"
    _replace(meta, json.dumps(older).encode())


KEYWORD_DAMAGE: dict[str, Damage] = {
    "segment-deleted": _on_keyword(_segment, delete),
    "segment-truncated": _on_keyword(_segment, truncate),
    "segment-zeroed": _on_keyword(_segment, zero),
    "tantivy-meta-corrupted": _on_keyword(lambda folder: folder / "meta.json", garbage),
    "tantivy-meta-deleted": _on_keyword(lambda folder: folder / "meta.json", delete),
    "state-deleted": _on_keyword(lambda folder: folder / "index-state.json", delete),
    "state-garbage": _on_keyword(lambda folder: folder / "index-state.json", garbage),
    "pointer-garbage": lambda index: (index / "keyword.json").write_text("{not json"),
    "state-of-another-database": _keyword_state_of_another_database,
}

# The patterns also match the layout before segments (`vectors-<generation>.npy`, `neighbours-...`),
# so that these damages can be shown to fail on the code before it.
VECTOR_DAMAGE: dict[str, Damage] = {
    "segment-deleted": _on_vectors(lambda folder: _largest(folder, "*vectors*.npy"), delete),
    "segment-truncated": _on_vectors(lambda folder: _largest(folder, "*vectors*.npy"), truncate),
    "segment-zeroed": _on_vectors(lambda folder: _largest(folder, "*vectors*.npy"), zero),
    "meta-corrupted": _on_vectors(lambda folder: folder / "meta.json", garbage),
    "meta-deleted": _on_vectors(lambda folder: folder / "meta.json", delete),
    "ids-garbage": _on_vectors(lambda folder: _largest(folder, "*ids*.json"), garbage),
    "lists-zeroed": _on_vectors(_lists, zero),
    "meta-of-an-older-generation": _vector_meta_of_an_older_generation,
}
