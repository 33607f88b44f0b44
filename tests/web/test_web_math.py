"""LaTeX to MathML: formulas render, everything else is escaped, and only allow-listed MathML
leaves the renderer, whatever the converter produces."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

import pytest

from papercast.domain.latex_text import accents_to_unicode
from papercast.domain.query import TextSegment
from papercast.web import math as math_module
from papercast.web.math import formula_mathml, render_snippet, render_text, split_math
from papercast.web.tex import text_html


def test_fraction_renders_to_mathml() -> None:
    html = str(render_text("Ratio $\\frac{\\ell_1}{\\ell_2}$ rules"))
    assert html.startswith('Ratio <math xmlns="http://www.w3.org/1998/Math/MathML" display="inline" ')
    assert "<mfrac><mrow><msub><mi>ℓ</mi><mn>1</mn></msub></mrow>" in html
    assert html.endswith("</math> rules")


def test_formula_inside_a_word() -> None:
    html = str(render_text("SL$^{2}$A-INR"))
    assert html.startswith("SL<math") and html.endswith("</math>A-INR")
    assert "<mn>2</mn>" in html


@pytest.mark.parametrize("text", [
    "broken $\\frac{1}{ never closed",
    "closed but broken $\\frac{1}{$",
    "costs $5 and $10",
    "a lone $ sign",
    "$ spaced $",
])
def test_text_that_is_not_a_formula_stays_text(text: str) -> None:
    assert str(render_text(text)) == text.replace("&", "&amp;")


def test_everything_outside_formulas_is_escaped() -> None:
    html = str(render_text("<script>alert(1)</script> & <img src=x onerror=alert(1)> $x<y$"))
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt; "
    assert html.startswith(escaped + "<math")
    assert "<mo>&lt;</mo>" in html


@pytest.mark.parametrize("latex, forbidden", [
    ("\\text{<script>alert(1)</script>}", "<script"),
    ("\\href{javascript:alert(1)}{x}", "href="),
    ("\\style{color:red}{x}", "style="),
    ("\\htmlData{x onerror=alert(1)}{y}", "onerror="),
])
def test_converter_output_is_sanitized(latex: str, forbidden: str) -> None:
    html = formula_mathml(latex)
    assert html is not None
    body = html.split(">", 1)[1]  # past <math …> (whose alttext holds the escaped source)
    assert forbidden not in body


def test_escaped_source_in_alttext() -> None:
    html = formula_mathml("\\text{\"><script>}")
    assert html is not None and 'alttext="\\text{&quot;&gt;&lt;script&gt;}"' in html


def test_unknown_elements_make_the_formula_fall_back_to_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def evil(latex: str) -> Element:
        root = Element("math")
        SubElement(SubElement(root, "mrow"), "script").text = "alert(1)"
        return root

    monkeypatch.setattr(math_module, "convert_to_element", evil)
    formula_mathml.cache_clear()
    try:
        assert str(render_text("see $\\evil$")) == "see $\\evil$"
    finally:
        formula_mathml.cache_clear()


def test_runaway_formulas_fall_back() -> None:
    assert formula_mathml("{" * 40 + "x" + "}" * 40) is None
    assert formula_mathml("x" * 5000) is None
    assert formula_mathml("\\def\\a{\\a}\\a") is None


def test_split_keeps_escaped_dollars_and_other_delimiters() -> None:
    pieces = split_math("pay \\$5, $a$ and \\(b\\) and $$c$$")
    assert [p.latex for p in pieces if p.latex] == ["a", "b", "c"]
    assert str(render_text("pay \\$5")) == "pay $5"


def test_snippet_marks_matches_and_renders_untouched_formulas() -> None:
    segments = (TextSegment("a "), TextSegment("body", True), TextSegment(" in $\\Omega$ <b>"),
                TextSegment("x", True))
    html = str(render_snippet(segments))
    assert html.startswith("a <mark>body</mark> in <math") and html.endswith("&lt;b&gt;<mark>x</mark>")
    touched = str(render_snippet((TextSegment("$"), TextSegment("\\omega", True), TextSegment("$"))))
    assert touched == "$<mark>\\omega</mark>$"


def test_text_mode_latex_accents_and_emphasis() -> None:
    assert accents_to_unicode("Marco T. Moraz\\'an") == "Marco T. Morazán"
    assert accents_to_unicode('{\\"u}ber G\\"{o}del \\c{c}a \\v s \\ss') == "über Gödel ça š ß"
    assert text_html("\\emph{a priori} <b>") == "<em>a priori</em> &lt;b&gt;"
    assert text_html("\\emph{<i>x</i>}") == "<em>&lt;i&gt;x&lt;/i&gt;</em>"


def test_escaped_special_characters_read_as_themselves_on_the_page() -> None:
    assert text_html("storage cut by 90\\% at R\\&D, see file\\_name \\#2 for \\$5") == (
        "storage cut by 90% at R&amp;D, see file_name #2 for $5")
    assert text_html("a line\\\\%b") == "a line\\\\%b"  # after a line break `%` is not escaped
