"""LaTeX in titles and abstracts as plain text for mail (`domain/latex_text.py`): accents,
escaped special characters, formulas in Unicode, and nothing lost from text without TeX."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.latex_text import latex_to_text


def test_accents_escapes_and_formulas_become_text_a_mail_client_shows() -> None:
    assert latex_to_text("Moraz\\'an and G\\\"{o}del") == "Morazán and Gödel"
    assert latex_to_text("cuts storage by 90\\% in R\\&D: see my\\_file, \\#1") == (
        "cuts storage by 90% in R&D: see my_file, #1")
    assert latex_to_text("a loss $\\alpha^2 + \\frac{a}{b}$ over $\\mathbb{R}$") == (
        "a loss α² + (a)/(b) over ℝ")
    assert latex_to_text("\\emph{a priori}   spaced\n out") == "a priori spaced out"


@given(st.text(alphabet=st.characters(blacklist_characters="\\$", blacklist_categories=("Cs",))))
def test_text_without_tex_keeps_every_word(text: str) -> None:
    assert latex_to_text(text).split() == text.split()
