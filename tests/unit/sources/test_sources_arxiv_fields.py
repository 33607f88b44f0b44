"""arXiv's field conventions: withdrawal notes, RFC 2822 dates, version labels, category lists."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from papercast.domain.errors import InvalidInput
from papercast.sources.arxiv_fields import (
    parse_arxiv_datetime,
    parse_iso_date,
    parse_iso_datetime,
    says_withdrawn,
    split_categories,
    version_number,
)


@pytest.mark.parametrize("comments", [
    "This paper has been withdrawn",
    "This paper has been withdrawn by the authors. This paper has been accepted for publication",
    "This article has been withdrawn because it has been merged with the earlier article (GCT3)",
    "This papers has been withdrawn",
    "paper withdrawn by author",
    "withdrawn by arXiv administrators due to plagiarism. See http://arxiv.org/new/withdrawals.aug.07.html",
    "This has been withdrawn by arXiv administrators due to an unresolvable authorship dispute",
    "This reprint has been withdrawn at the request of the AGU. The paper\n  has been published",
    "Withdrawn.",
    "WITHDRAWN: a fatal error in the proof",
    "v2: This submission has been withdrawn by the author",
    "  This paper has been\n  withdrawn due to an error in Lemma 8",
])
def test_withdrawal_notes(comments: str) -> None:
    assert says_withdrawn(comments)


@pytest.mark.parametrize("comments", [
    "", "18 pages, 6 figures; v2: References added", "v2: the claim in section 3 has been withdrawn",
    "We discuss withdrawn papers and retractions", "Comments welcome; withdrawn version of v1 superseded",
])
def test_comments_that_only_mention_withdrawal(comments: str) -> None:
    assert not says_withdrawn(comments)


@pytest.mark.parametrize(("text", "expected"), [
    ("Tue, 1 Nov 1994 18:57:48 GMT", datetime(1994, 11, 1, 18, 57, 48, tzinfo=UTC)),
    ("Mon, 27 Apr 2026 00:00:00 -0400", datetime(2026, 4, 27, 4, 0, tzinfo=UTC)),
    ("1 Nov 1994 18:57:48 GMT", datetime(1994, 11, 1, 18, 57, 48, tzinfo=UTC)),
    ("Tue, 1 Nov 1994 18:57:48 +0000", datetime(1994, 11, 1, 18, 57, 48, tzinfo=UTC)),
])
def test_rfc2822_dates_are_utc(text: str, expected: datetime) -> None:
    parsed = parse_arxiv_datetime(text)
    assert parsed == expected and parsed.utcoffset() is not None and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "Tue, 31 Feb 1994 18:57:48 GMT", "Tue, 1 Nov 1994 25:00:00 GMT"]
)
def test_bad_dates_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_arxiv_datetime(text)
    assert error.value.field == "versions"


def test_iso_dates() -> None:
    expected = datetime(2012, 4, 2, 12, 38, 54, tzinfo=UTC)
    assert parse_iso_datetime("2012-04-02T12:38:54Z", field="x") == expected
    assert parse_iso_datetime("2016-10-09T00:00:00-04:00", field="x") == datetime(2016, 10, 9, 4, tzinfo=UTC)
    assert parse_iso_datetime("2015-07-10", field="x") == datetime(2015, 7, 10, tzinfo=UTC)
    assert parse_iso_date("2026-06-12T00:00:00.000Z", field="x") == date(2026, 6, 12)
    with pytest.raises(InvalidInput):
        parse_iso_date("June 12", field="x")


def test_version_labels_and_categories() -> None:
    assert version_number("v1") == 1 and version_number("V12") == 12 and version_number("3") == 3
    for label in ("vX", "v\u00b2", "", "v"):
        with pytest.raises(InvalidInput):
            version_number(label)
    assert split_categories("  hep-ph   hep-ex hep-ph ") == ("hep-ph", "hep-ex")
    assert split_categories("") == ()
