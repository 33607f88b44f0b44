"""Papers as BibTeX entries (a reader's library exported), safe whatever the metadata holds.

BibTeX ends a braced field at the brace that balances its opening one, whatever backslashes
precede it, so a title with an unmatched brace would end the entry early or swallow the next:
every field is made brace-balanced (an unmatched brace becomes `\\textbraceleft{}` or
`\\textbraceright{}`). LaTeX's specials that would break a document (`%` comments out the rest,
`&` and `#`) are escaped; math in `$…$` is kept as it is, which is how arXiv writes titles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from papercast.domain.papers import Author, Paper

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9:._-]")
_UNESCAPED_SPECIAL = re.compile(r"(?<!\\)([%&#])")


def bibtex_entries(papers: Iterable[Paper]) -> str:
    """A `.bib` file of `papers`, one `@misc` entry each (`@article` when it has a journal)."""
    return "".join(bibtex_entry(paper) + "\n" for paper in papers)


def bibtex_entry(paper: Paper) -> str:
    fields: list[tuple[str, str]] = [("title", paper.title)]
    if paper.authors:
        fields.append(("author", " and ".join(_author(author) for author in paper.authors)))
    if paper.announced_on is not None:
        fields.append(("year", str(paper.announced_on.year)))
    if paper.is_arxiv:
        fields += [("eprint", paper.paper_id), ("archivePrefix", "arXiv")]
        if paper.primary_category:
            fields.append(("primaryClass", paper.primary_category))
        fields.append(("url", f"https://arxiv.org/abs/{paper.paper_id}"))
    for name, value in (("doi", paper.doi), ("journal", paper.journal_ref), ("note", paper.comments)):
        if value:
            fields.append((name, value))
    kind = "article" if paper.journal_ref else "misc"
    body = ",\n".join(f"  {name} = {{{field_value(value)}}}" for name, value in fields)
    return f"@{kind}{{{entry_key(paper.paper_id)},\n{body}\n}}\n"


def entry_key(paper_id: str) -> str:
    """A citation key BibTeX and biber accept: the id, `/` as `_` (hep-th/9901001)."""
    return _KEY_UNSAFE.sub("_", paper_id.replace("/", "_")) or "paper"


def field_value(text: str) -> str:
    """`text` as the inside of a braced BibTeX field: one line, braces balanced, LaTeX's
    comment and alignment characters escaped, no trailing backslash."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return _balanced(_UNESCAPED_SPECIAL.sub(r"\\\1", flat)).rstrip("\\")


def _balanced(text: str) -> str:
    out: list[str] = []
    open_at: list[int] = []  # positions in `out` of braces not closed yet
    for character in text:
        if character == "{":
            open_at.append(len(out))
            out.append("{")
        elif character == "}":
            if open_at:
                open_at.pop()
                out.append("}")
            else:
                out.append(r"\textbraceright{}")
        else:
            out.append(character)
    for position in open_at:
        out[position] = r"\textbraceleft{}"
    return "".join(out)


def _author(author: Author) -> str:
    """`{Last}, First` when the parts are known (a comma or `and` inside a part stays inside
    braces), else the whole name braced: BibTeX then keeps it as one name."""
    if author.last:
        first = f", {{{field_value(author.first)}}}" if author.first else ""
        return f"{{{field_value(author.last)}}}{first}"
    return f"{{{field_value(author.name)}}}"
