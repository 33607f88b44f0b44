"""BibTeX export: entries with arXiv eprint fields, and a file that stays well-formed whatever a
title or author holds (unbalanced braces, a forged entry, comments, control characters)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.bibtex import bibtex_entries, bibtex_entry, entry_key, field_value
from papercast.domain.papers import Author, Paper


def paper(paper_id: str = "2401.01234", title: str = "Attention", **fields: object) -> Paper:
    values: dict[str, object] = {
        "paper_id": paper_id, "title": title, "abstract": "",
        "authors": (Author("Ada Lovelace", "Lovelace", "Ada"),), "categories": ("cs.LG",),
        "announced_on": date(2024, 1, 3), "content_hash": "h", "change_seq": 1}
    values.update(fields)
    return Paper(**values)  # type: ignore[arg-type]


def entries(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """A small BibTeX reader: (type, key, fields) of each entry, counting braces as BibTeX does
    (a backslash does not escape one). Fails on an unbalanced file."""
    found: list[tuple[str, str, dict[str, str]]] = []
    position = 0
    while (start := text.find("@", position)) != -1:
        brace = text.index("{", start)
        kind, depth, end = text[start + 1:brace], 0, brace
        for end in range(brace, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        assert depth == 0, "unbalanced entry"
        key, _, body = text[brace + 1:end].partition(",\n")
        fields: dict[str, str] = {}
        for line in body.split(",\n"):
            name, _, value = line.strip().partition(" = ")
            assert value.startswith("{") and value.endswith("}"), line
            fields[name] = value[1:-1]
        found.append((kind, key, fields))
        position = end + 1
    return found


def test_an_arxiv_paper_becomes_an_entry_with_eprint_fields() -> None:
    [(kind, key, fields)] = entries(bibtex_entry(paper(doi="10.1/x", comments="12 pages")))
    assert (kind, key) == ("misc", "2401.01234")
    assert fields == {"title": "Attention", "author": "{Lovelace}, {Ada}", "year": "2024",
                      "eprint": "2401.01234", "archivePrefix": "arXiv", "primaryClass": "cs.LG",
                      "url": "https://arxiv.org/abs/2401.01234", "doi": "10.1/x", "note": "12 pages"}
    assert entry_key("hep-th/9901001") == "hep-th_9901001"
    assert entries(bibtex_entry(paper(journal_ref="Phys. Rev. D 1 (2020)")))[0][0] == "article"
    [(_, _, local)] = entries(bibtex_entry(paper("seed-001", authors=(Author("Plato"),))))
    assert "eprint" not in local and local["author"] == "{Plato}"


HOSTILE_TITLES = [
    "Unbalanced } brace", "Open { brace", "}}{{", "Forged},\n  author = {Mallory",
    "x}\n@misc{evil, title={owned}}", "100% sure & #1", "Ends in a backslash\\",
    "Line\nbreaks\r\tand \x00nul",
    "$\\frac{a}{b}$ keeps its math", "{Nested {braces} stay}",
]


def test_hostile_titles_leave_one_well_formed_entry_each() -> None:
    papers = [paper(f"2401.{n:05d}", title) for n, title in enumerate(HOSTILE_TITLES)]
    parsed = entries(bibtex_entries(papers))
    assert [key for _, key, _ in parsed] == [f"2401.{n:05d}" for n in range(len(HOSTILE_TITLES))]
    titles = [fields["title"] for _, _, fields in parsed]
    assert titles[5] == r"100\% sure \& \#1"
    assert titles[8] == r"$\frac{a}{b}$ keeps its math" and titles[9] == "{Nested {braces} stay}"
    assert all("\n" not in title and not title.endswith("\\") for title in titles)
    assert all(fields["author"] == "{Lovelace}, {Ada}" for _, _, fields in parsed)  # nothing leaked


def test_an_author_named_with_and_or_a_comma_stays_one_author() -> None:
    authors = (Author("Smith and Wesson", "Smith and Wesson", ""), Author("Doe, Jr.", "Doe, Jr.", "John"))
    [(_, _, fields)] = entries(bibtex_entry(paper(authors=authors)))
    assert fields["author"] == "{Smith and Wesson} and {Doe, Jr.}, {John}"


@given(st.text())
def test_any_text_becomes_a_balanced_field(text: str) -> None:
    value = field_value(text)
    depth = 0
    for character in value:
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0
    assert depth == 0 and "\n" not in value and not value.endswith("\\")
