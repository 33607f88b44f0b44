"""Text-mode LaTeX outside formulas, as arXiv metadata is full of it: accents (`Moraz\\'an`,
`{\\"u}`) become Unicode letters and `\\emph{…}` becomes emphasis. The result is escaped HTML.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import escape

_COMBINING = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "k": "\u0328",
}
# \'a  \'{a}  {\'a}  \"{\i}  \c{c}  \v s
_ACCENT = re.compile(
    r"\{?\\(?:(?P<symbol>['`^\"~=.])\s*|(?P<letter>[cvuHk])(?:\s+|(?=\{)))"
    r"(?:\{(?P<braced>\\i|[A-Za-z])\}|(?P<bare>\\i|[A-Za-z]))\}?"
)
_LETTERS = {r"\ss": "ß", r"\o": "ø", r"\O": "Ø", r"\aa": "å", r"\AA": "Å", r"\ae": "æ", r"\AE": "Æ",
            r"\l": "ł", r"\L": "Ł", r"\oe": "œ", r"\OE": "Œ"}
_LETTER = re.compile(r"\{?(\\(?:ss|aa|AA|ae|AE|oe|OE|o|O|l|L))(?![A-Za-z])(?:\{\})?\}?")
_STYLE = re.compile(r"\\(emph|textit|textbf|textsc|texttt)\{([^{}\\]{1,300})\}")
_TAGS = {"emph": "em", "textit": "em", "textbf": "strong", "textsc": "span", "texttt": "code"}


def accents_to_unicode(text: str) -> str:
    """`Moraz\\'an` → `Morazán`; text without backslashes is returned as it is."""
    if "\\" not in text:
        return text
    text = _ACCENT.sub(_accented, text)
    text = _LETTER.sub(lambda match: _LETTERS[match.group(1)], text)
    return unicodedata.normalize("NFC", text)


def _accented(match: re.Match[str]) -> str:
    mark = _COMBINING[match.group("symbol") or match.group("letter")]
    base = match.group("braced") or match.group("bare")
    return ("i" if base == "\\i" else base) + mark


def text_html(text: str) -> str:
    """Escaped HTML of a plain (non-formula) run, with accents and \\emph-style markup applied."""
    text = accents_to_unicode(text)
    if "\\" not in text:
        return str(escape(text))
    out: list[str] = []
    cursor = 0
    for match in _STYLE.finditer(text):
        tag = _TAGS[match.group(1)]
        out.append(str(escape(text[cursor:match.start()])))
        out.append(f"<{tag}>{escape(match.group(2))}</{tag}>")
        cursor = match.end()
    out.append(str(escape(text[cursor:])))
    return "".join(out)
