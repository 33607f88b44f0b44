"""Text-mode LaTeX outside formulas, as arXiv metadata is full of it: accents (`Moraz\\'an`,
`{\\"u}`) become Unicode letters and `\\emph{…}` becomes emphasis. The result is escaped HTML.
"""

from __future__ import annotations

import re

from markupsafe import escape

from papercast.domain.latex_text import accents_to_unicode

_STYLE = re.compile(r"\\(emph|textit|textbf|textsc|texttt)\{([^{}\\]{1,300})\}")
_TAGS = {"emph": "em", "textit": "em", "textbf": "strong", "textsc": "span", "texttt": "code"}


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
