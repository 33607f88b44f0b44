"""The seams the code keeps, checked by reading its source: every Protocol lives in `ports.py`
under a name no other class has; the web app is given what the composition root built (it
imports neither `bootstrap` nor an adapter); `serve` wires nothing itself."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "papercast"
# Protocols that stay where they are, and why: `Clock` is its own module, imported by every layer
# (storage included); `Schedule` is a domain rule, and the domain imports nothing outside it.
PROTOCOLS_ELSEWHERE = {("clock.py", "Clock"), ("domain/jobs.py", "Schedule")}
ADAPTERS = ("papercast.bootstrap", "papercast.storage", "papercast.index", "papercast.sources",
            "papercast.embeddings", "papercast.mail", "papercast.worker", "papercast.cli")


def classes(path: Path) -> Iterator[tuple[str, bool]]:
    """(name, whether it is a Protocol) for each class defined in `path`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
                     for base in node.bases}
            yield node.name, "Protocol" in bases


def imported_modules(path: Path) -> Iterator[str]:
    """Every module `path` imports, at any depth (functions, TYPE_CHECKING blocks)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_every_protocol_is_a_port_with_a_name_no_other_class_has() -> None:
    elsewhere, names = [], Counter[str]()
    for path in sorted(SOURCE.rglob("*.py")):
        where = path.relative_to(SOURCE).as_posix()
        for name, protocol in classes(path):
            names[name] += 1
            if protocol and where != "ports.py" and (where, name) not in PROTOCOLS_ELSEWHERE:
                elsewhere.append(f"{where}: {name}")
    ports = [name for name, protocol in classes(SOURCE / "ports.py") if protocol]
    assert elsewhere == [], "Protocols belong in ports.py"
    assert [name for name in ports if names[name] > 1] == [], "a port's name must be its own"


def test_the_web_imports_no_adapter_and_not_the_composition_root() -> None:
    found = [f"{path.relative_to(SOURCE)}: {module}" for path in sorted((SOURCE / "web").rglob("*.py"))
             for module in imported_modules(path) if module.startswith(ADAPTERS)]
    assert found == [], "the web is given WebServices by bootstrap (Papercast.web_services)"


def test_serve_wires_no_search_backend_or_worker_itself() -> None:
    modules = set(imported_modules(SOURCE / "cli" / "serve.py"))
    assert not {module for module in modules
                if module.startswith(("papercast.worker", "papercast.services", "papercast.storage",
                                      "papercast.index"))}


def test_the_search_indexes_follow_the_database_through_ports_not_storage_classes() -> None:
    found = [f"{path.relative_to(SOURCE)}: {module}" for path in sorted((SOURCE / "index").rglob("*.py"))
             for module in imported_modules(path) if module.startswith("papercast.storage")]
    assert found == [], "the follower takes PaperChangeFeed and VectorChangeFeed (ports.py)"
