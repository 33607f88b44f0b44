"""Canonical paper ids: every common spelling of an arXiv id maps to one key, archives kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from papercast.domain.errors import InvalidInput
from papercast.domain.papers import canonical_id, parse_paper_id


@pytest.mark.parametrize(
    ("raw", "expected", "version"),
    [
        ("2101.00001", "2101.00001", None),
        ("arXiv:2101.00001v2", "2101.00001", 2),
        ("https://arxiv.org/abs/2101.00001", "2101.00001", None),
        ("http://arxiv.org/pdf/2101.00001v3.pdf", "2101.00001", 3),
        ("oai:arXiv.org:1810.04805", "1810.04805", None),
        ("0704.0001", "0704.0001", None),
        ("hep-th/9901001", "hep-th/9901001", None),
        ("hep-th/9901001v3", "hep-th/9901001", 3),
        ("math.GT/0309136", "math/0309136", None),
        ("HEP-TH/9901001", "hep-th/9901001", None),
        ("http://arxiv.org/abs/astro-ph/0601001v1", "astro-ph/0601001", 1),
        ("seed-001", "seed-001", None),
    ],
)
def test_spellings_map_to_one_canonical_id(raw: str, expected: str, version: int | None) -> None:
    parsed = parse_paper_id(raw)
    assert (parsed.paper_id, parsed.version) == (expected, version)


def test_old_style_archive_is_part_of_the_id() -> None:
    assert canonical_id("hep-th/9901001") != canonical_id("solv-int/9901001")


@pytest.mark.parametrize(
    "raw", ["", "abc", "1234", "2113.00001", "2101.001", "hep-th/99010", "seed", "../etc/passwd",
            "2101.00001v0", "<script>", "a" * 500, "hep-th/9901001v999"],
)
def test_invalid_ids_are_rejected_with_the_field_named(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_paper_id(raw)
    assert caught.value.field == "id"


new_style = st.builds(
    lambda yy, mm, n, five: f"{yy:02d}{mm:02d}.{n:05d}" if five else f"{yy:02d}{mm:02d}.{n % 10000:04d}",
    st.integers(7, 30), st.integers(1, 12), st.integers(0, 99999), st.booleans(),
)
old_style = st.builds(
    lambda archive, yy, n: f"{archive}/{yy:02d}{n:05d}",
    st.sampled_from(["hep-th", "astro-ph", "math", "cond-mat", "quant-ph", "solv-int", "cs"]),
    st.integers(0, 99), st.integers(0, 99999),
)


@given(st.one_of(new_style, old_style), st.one_of(st.none(), st.integers(1, 50)))
def test_round_trip_of_id_with_version(paper_id: str, version: int | None) -> None:
    spelled = f"{paper_id}v{version}" if version else paper_id
    for form in (spelled, f"arXiv:{spelled}", f"https://arxiv.org/abs/{spelled}"):
        parsed = parse_paper_id(form)
        assert parsed.paper_id == paper_id
        assert parsed.version == version
        assert parsed.is_arxiv
