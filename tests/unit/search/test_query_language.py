"""The query language: every operator, and hostile input that must parse without raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.query import (
    MAX_QUERY_LENGTH,
    ParsedQuery,
    TextSegment,
    YearRange,
    highlight,
    parse_query,
    parse_year_range,
    relax_phrases,
    segments_as_html,
    title_key,
)


def test_free_text_keeps_words_in_order_for_ranking_and_embedding() -> None:
    parsed = parse_query("  Text-to-image   diffusion, with ControlNet?  ")
    assert parsed.terms == ("Text-to-image", "diffusion", "with", "ControlNet")
    assert parsed.text == "Text-to-image diffusion, with ControlNet?"
    assert parsed.has_text and not parsed.has_filters and parsed.warnings == ()


def test_phrases_exclusions_and_filters() -> None:
    parsed = parse_query('attention "layer normalization" -rnn -"recurrent network" author:vaswani '
                         'cat:cs.CL year:2017..2019 id:arXiv:1706.03762v5')
    assert parsed.terms == ("attention",)
    assert parsed.phrases == ("layer normalization",)
    assert parsed.excluded_terms == ("rnn",)
    assert parsed.excluded_phrases == ("recurrent network",)
    assert parsed.authors == ("vaswani",)
    assert parsed.categories == ("cs.CL",)
    assert parsed.years == YearRange(2017, 2019)
    assert parsed.paper_ids == ("1706.03762",)
    assert parsed.text == "attention layer normalization"
    assert parsed.warnings == ()


def test_quoted_author_negated_filters_and_comma_lists() -> None:
    parsed = parse_query('author:"Geoffrey Hinton" -author:smith cat:cs.LG,stat.ML -cat:cs.CV '
                         "id:seed-001,seed-002")
    assert parsed.authors == ("Geoffrey Hinton",)
    assert parsed.excluded_authors == ("smith",)
    assert parsed.categories == ("cs.LG", "stat.ML")
    assert parsed.excluded_categories == ("cs.CV",)
    assert parsed.paper_ids == ("seed-001", "seed-002")
    assert not parsed.has_text and parsed.has_filters


@pytest.mark.parametrize(("value", "expected"), [
    ("2023", YearRange(2023, 2023)), ("2020..2024", YearRange(2020, 2024)),
    ("2020-2024", YearRange(2020, 2024)),
    ("2020..", YearRange(2020, None)), ("..2019", YearRange(None, 2019)), ("20", None), ("..", None),
    ("abcd", None), ("0999", None),
])
def test_year_ranges(value: str, expected: YearRange | None) -> None:
    assert parse_year_range(value) == expected


def test_reversed_year_range_is_swapped_with_a_warning() -> None:
    parsed = parse_query("year:2024..2020 gans")
    assert parsed.years == YearRange(2020, 2024)
    assert any("reversed" in warning for warning in parsed.warnings)


def test_bare_arxiv_ids_are_mentioned_for_pinning() -> None:
    parsed = parse_query("1810.04805v2 and hep-th/9901001 text-to-image")
    assert parsed.mentioned_ids == ("1810.04805", "hep-th/9901001")
    assert "text-to-image" in parsed.terms


def test_not_excludes_the_next_word_and_and_or_are_words_with_a_warning() -> None:
    parsed = parse_query("cats AND dogs OR birds NOT fish")
    assert parsed.terms == ("cats", "dogs", "birds")
    assert parsed.excluded_terms == ("fish",)
    assert any("AND" in warning for warning in parsed.warnings)


HOSTILE = [
    '"unbalanced phrase', 'foo"bar baz', '"""', '""', "-", "--", "- -", "NOT", "-NOT", "author:", "cat:",
    "year:", "id:", "author:\"\"", "-year:2020", "-id:1234.5678", "cat:!!!", "cat:" + "x" * 100,
    "year:abc", "year:99999", "id:not-an-id!", "id:../../etc/passwd",
    "AND OR NOT", "a AND (b OR c)", "title:foo^2 bar~1 baz* [1 TO 5] {x} a:(b)", "\\\\ \\\" \\", "+++",
    "'; DROP TABLE papers; --", "1' OR '1'='1", "SELECT * FROM papers WHERE 1=1 /* */ UNION",
    "\x00\x01\x02 nul \x7f del \u200b\u202e rtl \ufeff", "\ud800 lone surrogate", "tab\tnew\nline\rcr",
    "ＦＵＬＬ　ＷＩＤＴＨ　＂ｐｈｒａｓｅ＂", "“curly quotes”", "emoji 🧠 neural", "中文 查询", "x" * 10_000,
    "a " * 5_000, '"' * 999, "-" * 999, ":" * 500, "author:" * 200, "<script>alert(1)</script>",
    "{{7*7}} ${jndi:ldap://x}", "%s%s%n", "NEAR/3 w1 w2", "field:*", "*:*", "?", "~", "^", "*",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_never_raises_and_yields_a_normal_query(text: str) -> None:
    parsed = parse_query(text)
    assert isinstance(parsed, ParsedQuery)
    assert len(parsed.raw) <= MAX_QUERY_LENGTH
    for word in (*parsed.terms, *parsed.excluded_terms):
        assert word and all(ch.isalnum() or ch in "-.'_" for ch in word)
    for value in (*parsed.phrases, *parsed.authors):
        assert "\x00" not in value and '"' not in value


def test_long_input_is_cut_and_said_so() -> None:
    parsed = parse_query("word " * 2_000)
    assert len(parsed.raw) <= MAX_QUERY_LENGTH
    assert any("cut" in warning for warning in parsed.warnings)


def test_control_characters_are_removed_and_said_so() -> None:
    parsed = parse_query("graph\x00neural\x07networks")
    assert parsed.terms == ("graph", "neural", "networks")
    assert parsed.warnings == ("control characters were removed",)


def test_search_engine_operators_are_ignored_with_one_warning() -> None:
    parsed = parse_query("(title:foo)^2 bar~ baz*")
    assert parsed.terms == ("title", "foo", "2", "bar", "baz")
    assert parsed.warnings == ("special characters ( ) * ^ ~ were ignored",)


def test_none_and_non_strings_are_empty_or_text() -> None:
    assert parse_query(None).is_empty
    assert parse_query(42).terms == ("42",)


@given(st.text(max_size=300))
def test_any_text_parses(text: str) -> None:
    parsed = parse_query(text)
    assert len(parsed.raw) <= MAX_QUERY_LENGTH


def test_highlight_marks_spans_and_windows_long_text() -> None:
    text = "alpha beta gamma delta"
    assert highlight(text, [(6, 10)]) == (TextSegment("alpha "), TextSegment("beta", True),
                                          TextSegment(" gamma delta"))
    long_text = " ".join(f"w{i}" for i in range(200)) + " target " + " ".join(f"v{i}" for i in range(200))
    start = long_text.index("target")
    segments = highlight(long_text, [(start, start + 6)], max_chars=80)
    joined = "".join(s.text for s in segments)
    assert segments[0].text == "\u2026" and segments[-1].text == "\u2026"
    assert "target" in joined and len(joined) <= 84
    assert [s.text for s in segments if s.match] == ["target"]


def test_segments_render_as_escaped_html() -> None:
    segments = (TextSegment("<b>&"), TextSegment("<script>", True))
    assert segments_as_html(segments) == "&lt;b&gt;&amp;<mark>&lt;script&gt;</mark>"


def test_title_key_ignores_case_accents_and_punctuation() -> None:
    assert title_key("Naïve Bayes: A “Study”!") == title_key("naive bayes a study") == "naive bayes a study"


def test_relaxed_phrases_become_words() -> None:
    relaxed = relax_phrases(parse_query('graph "message passing" -x'))
    assert relaxed.terms == ("graph", "message", "passing") and relaxed.phrases == ()
    assert relaxed.excluded_terms == ("x",)
