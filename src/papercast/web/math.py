"""LaTeX in titles and abstracts, rendered to MathML on the server; everything else escaped.

`render_text` splits text at math delimiters (`$…$`, `$$…$$`, `\\(…\\)`), converts each formula
with latex2mathml and rebuilds the MathML from its element tree through an allow-list: only
MathML presentation elements and a few attributes with plain values survive, and every text
node is escaped by us. A formula that does not parse (or is too long, too deep, or yields an
element we do not allow) is shown as its escaped source. No user text ever reaches the page
unescaped, and no script needs to run in the browser.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from xml.etree.ElementTree import Element

from latex2mathml.converter import convert_to_element
from markupsafe import Markup, escape

from papercast.domain.latex_text import MATH
from papercast.domain.query import TextSegment
from papercast.web.tex import text_html

log = logging.getLogger("papercast.web.math")

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
MAX_FORMULA_CHARS = 600
MAX_FORMULAS = 60
MAX_BRACE_DEPTH = 24
MAX_ELEMENTS = 1_500
WIDE_FORMULA_CHARS = 40

ALLOWED_ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac",
    "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mlabeledtr",
    "mstyle", "mpadded", "mphantom", "menclose", "merror", "mfenced", "mmultiscripts", "mprescripts",
    "none", "semantics",
})
ALLOWED_ATTRIBUTES = frozenset({
    "display", "mathvariant", "stretchy", "fence", "form", "separator", "accent", "accentunder",
    "movablelimits", "largeop", "symmetric", "lspace", "rspace", "width", "height", "depth",
    "minsize", "maxsize", "linethickness", "columnalign", "rowalign", "columnlines", "rowlines",
    "columnspacing", "rowspacing", "frame", "framespacing", "notation", "displaystyle",
    "scriptlevel", "mathsize", "mathcolor", "mathbackground", "open", "close", "separators",
    "voffset", "align", "equalrows", "equalcolumns", "bevelled", "numalign", "denomalign",
})
# Attribute values: words, numbers, units, colours. Nothing that could be a URL or script.
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9 .#%+-]{0,64}$")
_MATH = MATH  # `$…$`, `$$…$$`, `\\(…\\)` and `\\$` (domain.latex_text)


class UnsafeMathML(ValueError):
    """The converter produced something outside the allow-list."""


@dataclass(frozen=True)
class Piece:
    """A run of plain text, or one formula (`latex` without its delimiters)."""

    text: str
    latex: str | None = None


def split_math(text: str) -> list[Piece]:
    """`text` cut into plain runs and formulas; `$` without a partner stays plain text."""
    pieces: list[Piece] = []
    cursor = 0
    for match in _MATH.finditer(text):
        if match.group(0) == "\\$":
            continue
        latex = match.group("display") or match.group("paren") or match.group("inline")
        if match.start() > cursor:
            pieces.append(Piece(text[cursor:match.start()]))
        pieces.append(Piece(match.group(0), latex))
        cursor = match.end()
    if cursor < len(text):
        pieces.append(Piece(text[cursor:]))
    return pieces


def render_text(text: str | None) -> Markup:
    """HTML for `text`: plain runs escaped, formulas as sanitized MathML (or escaped source)."""
    if not text:
        return Markup("")
    out: list[str] = []
    formulas = 0
    for piece in split_math(text):
        if piece.latex is None:
            out.append(_plain(piece.text))
            continue
        formulas += 1
        rendered = formula_mathml(piece.latex) if formulas <= MAX_FORMULAS else None
        out.append(rendered if rendered is not None else str(escape(piece.text)))
    return Markup("".join(out))


def _plain(text: str) -> str:
    return text_html(text.replace("\\$", "$"))


def render_snippet(segments: Sequence[TextSegment]) -> Markup:
    """A search snippet: query matches in `<mark>`, formulas as MathML unless a match falls inside."""
    text = "".join(segment.text for segment in segments)
    marks: list[tuple[int, int]] = []
    position = 0
    for segment in segments:
        if segment.match:
            marks.append((position, position + len(segment.text)))
        position += len(segment.text)
    out: list[str] = []
    start = 0
    for piece in split_math(text):
        end = start + len(piece.text)
        touched = any(a < end and b > start for a, b in marks)
        rendered = formula_mathml(piece.latex) if piece.latex is not None and not touched else None
        if rendered is None:
            rendered = _marked(text, start, end, marks, plain=piece.latex is None)
        out.append(rendered)
        start = end
    return Markup("".join(out))


def _marked(text: str, start: int, end: int, marks: list[tuple[int, int]], plain: bool) -> str:
    """`text[start:end]` escaped, with the parts inside `marks` wrapped in `<mark>`."""
    render = _plain if plain else (lambda run: str(escape(run)))
    out: list[str] = []
    cursor = start
    for a, b in marks:
        a, b = max(a, start), min(b, end)
        if a >= b:
            continue
        out.append(render(text[cursor:a]))
        out.append(f"<mark>{render(text[a:b])}</mark>")
        cursor = b
    out.append(render(text[cursor:end]))
    return "".join(out)


@lru_cache(maxsize=8192)
def formula_mathml(latex: str) -> str | None:
    """Sanitized MathML for one formula, or None when it cannot be shown safely as math."""
    if len(latex) > MAX_FORMULA_CHARS or _brace_depth(latex) > MAX_BRACE_DEPTH:
        return None
    try:
        element = convert_to_element(latex.strip())
    except Exception as error:  # noqa: BLE001 - any parser failure means "show the source"
        log.debug("math.unparsed error=%s latex=%r", type(error).__name__, latex[:80])
        return None
    try:
        budget = [MAX_ELEMENTS]
        body = "".join(_serialize(child, budget) for child in element)
    except UnsafeMathML as error:
        log.debug("math.rejected reason=%s latex=%r", error, latex[:80])
        return None
    alttext = html.escape(latex, quote=True)
    mathml = f'<math xmlns="{MATHML_NS}" display="inline" alttext="{alttext}">{body}</math>'
    # A long formula cannot wrap: give it a box of its own that scrolls instead of the page.
    return f'<span class="formula-wide">{mathml}</span>' if len(latex) > WIDE_FORMULA_CHARS else mathml


def _serialize(element: Element, budget: list[int]) -> str:
    """One element and its children, rebuilt from the allow-lists; raises `UnsafeMathML`."""
    budget[0] -= 1
    if budget[0] < 0:
        raise UnsafeMathML("too many elements")
    tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
    if tag not in ALLOWED_ELEMENTS or tag == "math":
        raise UnsafeMathML(f"element {tag!r}")
    attributes = "".join(
        f' {name}="{html.escape(value, quote=True)}"'
        for name, value in sorted(element.attrib.items())
        if name in ALLOWED_ATTRIBUTES and _PLAIN_VALUE.match(value)
    )
    inner = _text(element.text) + "".join(
        _serialize(child, budget) + _text(child.tail) for child in element
    )
    return f"<{tag}{attributes}>{inner}</{tag}>"


def _text(value: str | None) -> str:
    # latex2mathml keeps symbols as character references ("&#x02113;") and user text as typed:
    # decode both, then escape everything ourselves.
    return html.escape(html.unescape(value), quote=False) if value else ""


def _brace_depth(latex: str) -> int:
    depth = deepest = 0
    for character in latex:
        if character == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif character == "}":
            depth = max(0, depth - 1)
    return deepest

