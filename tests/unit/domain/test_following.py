"""`PAPERCAST_HARVEST_FOLLOW`: OAI-PMH sets and Hugging Face daily papers, each mistake named."""

from __future__ import annotations

import pytest

from papercast.domain.errors import InvalidInput
from papercast.domain.following import FollowedSource, SourceKind, parse_followed_sources


def test_sets_and_hf_daily_are_read_in_order() -> None:
    sources = parse_followed_sources(" oai:cs, oai:physics:hep-th ,hf-daily,oai:cs:cs:LG,")
    assert [source.name for source in sources] == ["oai:cs", "oai:physics:hep-th", "hf-daily", "oai:cs:cs:LG"]
    assert sources[1] == FollowedSource(SourceKind.OAI, "physics:hep-th")
    assert sources[2].kind is SourceKind.HF_DAILY
    assert parse_followed_sources("") == ()


@pytest.mark.parametrize(("text", "message"), [
    ("cs", "'cs' is not a source; use oai:<set>"),
    ("arxiv:cs", "'arxiv:cs' is not a source"),
    ("oai:", "'oai:' does not name an OAI-PMH set"),
    ("oai:cs::LG", "'oai:cs::LG' does not name an OAI-PMH set"),
    ("oai:cs;drop", "does not name an OAI-PMH set"),
    ("oai:" + "a" * 100, "does not name an OAI-PMH set"),
    ("hf-daily,oai:cs,hf-daily", "'hf-daily' is named twice"),
])
def test_a_mistake_is_one_line_naming_the_setting_and_the_item(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match="PAPERCAST_HARVEST_FOLLOW: ") as raised:
        parse_followed_sources(text)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert raised.value.field == "PAPERCAST_HARVEST_FOLLOW"
