"""Safe XML parsing for the feed formats: defusedxml only, failures as `SourceError`s that name the input."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from papercast.domain.errors import SourceError


def parse_document(data: bytes, *, origin: str, kind: str) -> Element:
    """The root element of `data`; `kind` says what it should be (`an arXiv RSS feed`).

    DTDs and entity declarations are refused outright (no billion-laughs, no external entities).
    """
    try:
        root: Element = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise SourceError(
            f"{origin} is not {kind}: refusing XML with a DTD or entity declarations ({exc!r})",
            code="forbidden-xml",
        ) from exc
    except (ParseError, LookupError, ValueError) as exc:  # LookupError: an unknown declared encoding
        message = f"{origin} is not {kind}: {_describe_unparseable(data, exc)}"
        raise SourceError(message, code="malformed-xml") from exc
    return root


def _describe_unparseable(data: bytes, exc: Exception) -> str:
    start = data.lstrip()[:1]
    if not start:
        return "the input is empty"
    if start in (b"{", b"["):
        return f"it looks like JSON, not XML ({exc})"
    return f"the XML does not parse ({exc})"


def require_root(root: Element, tags: tuple[str, ...], *, origin: str, kind: str) -> None:
    """Raise `SourceError` unless the root element is one of `tags` (Clark notation `{ns}name`)."""
    if root.tag not in tags:
        message = f"{origin} is not {kind} (root element is <{local_name(root.tag)}>)"
        raise SourceError(message, code="wrong-format")


def local_name(tag: str) -> str:
    """`{http://www.w3.org/2005/Atom}feed` -> `feed`."""
    return tag.rpartition("}")[2]


def child_text(element: Element, tag: str) -> str:
    """The text of the first child `tag` (Clark notation), or "" when absent or empty."""
    return element.findtext(tag) or ""


def all_text(element: Element | None) -> str:
    """All text inside `element`, children included, whitespace-collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def int_or_none(text: str | None) -> int | None:
    """An integer from element text or an attribute, None when absent or not a number."""
    value = (text or "").strip()
    return int(value) if value.isdecimal() else None
