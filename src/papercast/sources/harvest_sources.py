"""The remote sources scheduled harvests read (the `HarvestSources` port): arXiv's OAI-PMH in
`arXivRaw` (with the version history) and Hugging Face daily papers, over one polite client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from papercast.ports import Fetcher
from papercast.sources.remote import HfDailyHarvest, OaiHarvest


@dataclass(frozen=True)
class HttpHarvestSources:
    fetcher: Fetcher
    oai_base_url: str
    hf_daily_url: str

    def oai(self, set_spec: str, from_date: str = "") -> OaiHarvest:
        return OaiHarvest(self.fetcher, self.oai_base_url, set_spec, from_date, "", "arXivRaw")

    def hf_daily(self, first_day: date, last_day: date) -> HfDailyHarvest:
        return HfDailyHarvest(self.fetcher, self.hf_daily_url, first_day, last_day)
