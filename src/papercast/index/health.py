"""Whether a search index can be trusted: its files whole, and what it holds consistent with the
database, which is the truth whatever the index's own files say. Each check returns why not
(a sentence for logs and `papercast index status`) or None."""

from __future__ import annotations

from pathlib import Path

from papercast.index import vector_files
from papercast.index.durable import DamagedFiles
from papercast.ports import PaperChangeFeed, VectorChangeFeed


def keyword_contradiction(papers: PaperChangeFeed, seq: int, documents: int) -> str | None:
    """Why a keyword index at sequence `seq` holding `documents` papers cannot be this database's."""
    # The count is read before the changes after `seq`, so a paper written in between can only
    # lower the bound below: concurrent ingest never makes a good index look stale.
    catalog = papers.count()
    catalog_seq = papers.max_change_seq()
    if seq > catalog_seq:
        return (f"it holds changes up to sequence {seq:,} but the database only to {catalog_seq:,}: "
                "it was built from another database")
    if documents > catalog:
        return f"it holds {documents:,} papers, the database {catalog:,}"
    held = catalog - papers.changes_after(seq)
    if documents < held:
        return f"it holds {documents:,} papers, the database had {held:,} at sequence {seq:,}"
    return None


def vector_contradiction(embeddings: VectorChangeFeed, model_id: str | None, seq: int, count: int, *,
                         thorough: bool) -> str | None:
    """Why a vector index at sequence `seq` holding `count` vectors cannot be this database's;
    `thorough` also counts the model's vectors (a scan of the table)."""
    newest = embeddings.last_seq()
    if seq > newest:
        return (f"it holds vectors up to sequence {seq:,} but the database only to {newest:,}: "
                "it was built from another database")
    if not thorough or model_id is None:
        return None
    stored = embeddings.count(model_id)  # before the changes, as for papers
    later = embeddings.changes_after(seq)
    if not stored - later <= count <= stored + later:
        return (f"it holds {count:,} vectors, the database {stored:,} of {model_id} "
                f"({later:,} written after sequence {seq:,})")
    return None


def check_vector_files(folder: Path, verify: bool = False) -> None:
    """Raise `DamagedFiles` unless the published manifest and the files it names are whole (sizes;
    checksums of the small ones, of all with `verify`)."""
    for attempt in range(2):  # the writer may publish (and delete) between reading and checking
        manifest = vector_files.read_manifest(folder)
        if manifest is None:
            raise DamagedFiles(f"{folder / vector_files.MANIFEST}: missing")
        try:
            for entry in manifest.segments:
                for kind, info in entry.files.items():
                    vector_files.check_file(folder / f"{entry.name}.{kind}", info, verify=verify)
            if manifest.graph is not None:
                graph = manifest.graph
                vector_files.check_file(folder / str(graph["file"]), graph, verify=verify)
            return
        except DamagedFiles:
            if attempt or vector_files.published_generation(folder) == str(manifest.generation):
                raise
