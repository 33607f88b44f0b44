"""LaTeX in arXiv metadata as plain Unicode text, for places that cannot show MathML (mail
clients): accents become letters (`Moraz\\'an` → `Morazán`), `$\\alpha^2$` becomes `α²`, and
what has no plain form keeps its source, readable to anyone who knows TeX.
"""

from __future__ import annotations

import re
import unicodedata

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
# `$…$`: not `$ 5`, not `5$`, not followed by a digit (prices), no `$` inside; `\$` is a dollar.
MATH = re.compile(
    r"\\\$"
    r"|\$\$(?P<display>[^$]+?)\$\$"
    r"|\\\((?P<paren>.+?)\\\)"
    r"|\$(?P<inline>[^\s$](?:[^$]*?[^\s$\\])?)\$(?!\d)",
    re.DOTALL,
)
_STYLE = re.compile(r"\\(?:emph|textit|textbf|textsc|texttt|text|mathrm|mathit|mathbf|mathcal|mathsf|mathtt|"
                    r"boldsymbol|bm|operatorname|mbox|hat|bar|tilde|vec|overline)"
                    r"\{([^{}]*)\}")
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
          "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega")
_SYMBOLS = {
    **{name: chr(0x3B1 + index + (1 if index > 16 else 0)) for index, name in enumerate(_GREEK)},
    "varepsilon": "ε", "vartheta": "ϑ", "varphi": "φ", "varrho": "ϱ", "varsigma": "ς", "ell": "ℓ",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "infty": "∞", "partial": "∂", "nabla": "∇", "pm": "±",
    "mp": "∓", "times": "×", "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "leq": "≤", "le": "≤",
    "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈", "sim": "∼", "simeq": "≃", "equiv": "≡",
    "propto": "∝", "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆", "cup": "∪", "cap": "∩",
    "to": "→", "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒", "mapsto": "↦", "forall": "∀",
    "exists": "∃", "sum": "∑", "prod": "∏", "int": "∫", "sqrt": "√", "log": " log ", "exp": " exp ",
    "min": " min ", "max": " max ", "sin": " sin ", "cos": " cos ", "lim": " lim ",
    "emptyset": "∅", "circ": "∘",
    "langle": "⟨", "rangle": "⟩", "ll": "≪", "gg": "≫", "%": "%", "&": "&", "_": "_", "{": "{", "}": "}",
    ",": " ", ";": " ", "quad": " ", "qquad": " ", "!": "",
}
_BLACKBOARD = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "E": "𝔼", "P": "ℙ"}
_SUPERSCRIPTS = dict(zip("0123456789+-=()nik", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵏ", strict=True))
_SUBSCRIPTS = dict(zip("0123456789+-=()aeiknotx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢₖₙₒₜₓ", strict=True))
_COMMAND = re.compile(r"\\([A-Za-z]+|[%&_{},;!])")
_SCRIPT = re.compile(r"(?P<mark>[\^_])(?:\{(?P<braced>[^{}]{1,12})\}|(?P<one>[A-Za-z0-9+-]))")
_FRACTION = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
_MATHBB = re.compile(r"\\mathbb\{([A-Z])\}")
_SPACES = re.compile(r"\s+")
# Text-mode escapes of TeX's special characters: `90\%`, `R\&D`, `file\_name`, `\#1`, `\$5`
# (not after a backslash: `\\` is a line break, and what follows it is its own).
_ESCAPED = re.compile(r"(?<!\\)\\([%&_#$])")


def accents_to_unicode(text: str) -> str:
    """Text-mode LaTeX as Unicode: `Moraz\\'an` → `Morazán`, `\\ss` → `ß`, `90\\%` → `90%`;
    text without backslashes is returned as it is."""
    if "\\" not in text:
        return text
    text = _ACCENT.sub(_accented, text)
    text = _LETTER.sub(lambda match: _LETTERS[match.group(1)], text)
    text = _ESCAPED.sub(r"\1", text)
    return unicodedata.normalize("NFC", text)


def _accented(match: re.Match[str]) -> str:
    mark = _COMBINING[match.group("symbol") or match.group("letter")]
    base = match.group("braced") or match.group("bare")
    return ("i" if base == "\\i" else base) + mark


def latex_to_text(text: str) -> str:
    """Plain text for a title or abstract: formulas approximated in Unicode, text-mode markup
    and accents resolved, whitespace collapsed."""
    out: list[str] = []
    cursor = 0
    for match in MATH.finditer(text):
        out.append(_prose(text[cursor:match.start()]))
        latex = match.group("display") or match.group("paren") or match.group("inline")
        out.append("$" if latex is None else formula_text(latex))
        cursor = match.end()
    out.append(_prose(text[cursor:]))
    return _SPACES.sub(" ", "".join(out)).strip()


def _prose(text: str) -> str:
    return _STYLE.sub(r"\1", accents_to_unicode(text))


def formula_text(latex: str) -> str:
    """One formula as Unicode (`\\alpha^2_i` → `α²ᵢ` where scripts exist; `x^{ab}` → `x^(ab)`)."""
    text = _MATHBB.sub(lambda match: _BLACKBOARD.get(match.group(1), match.group(1)), latex)
    text = _STYLE.sub(r"\1", text)
    text = _FRACTION.sub(r"(\1)/(\2)", text)
    text = _COMMAND.sub(lambda match: _SYMBOLS.get(match.group(1), match.group(1)), text)
    text = _SCRIPT.sub(_script, text)
    text = text.replace("{", "").replace("}", "")
    return _SPACES.sub(" ", text).strip()


def _script(match: re.Match[str]) -> str:
    """A superscript or subscript in Unicode when every character has one, else `^(…)` / `_(…)`."""
    body = match.group("braced") or match.group("one")
    mark = match.group("mark")
    table = _SUPERSCRIPTS if mark == "^" else _SUBSCRIPTS
    if all(character in table for character in body):
        return "".join(table[character] for character in body)
    return f"{mark}({body})" if len(body) > 1 else f"{mark}{body}"
