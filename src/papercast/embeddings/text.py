"""The text papercast embeds for a paper, shared by the embedding service and every caller."""

from __future__ import annotations

import hashlib


def paper_text(title: str, abstract: str) -> str:
    """`title + ". " + abstract`, the one form every encoder sees; whitespace is collapsed."""
    title = " ".join(title.split()).rstrip(".")
    abstract = " ".join(abstract.split())
    if not abstract:
        return title
    return f"{title}. {abstract}"


def text_hash(text: str) -> str:
    """A stable digest of an embedded text, to tell a metadata-only change from a text change."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
