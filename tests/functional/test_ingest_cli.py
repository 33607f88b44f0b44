"""`papercast ingest` and `papercast papers show` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from papercast.cli.main import app

runner = CliRunner()


def papercast(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ingest_json(env: dict[str, str], *paths: Path | str) -> tuple[int, dict[str, object]]:
    code, out, _ = papercast(env, "ingest", "--json", *map(str, paths))
    return code, json.loads(out)


def test_seed_corpus_is_stored_once(settings_env: dict[str, str], shared_data: Path) -> None:
    code, report = ingest_json(settings_env, shared_data / "seed-papers.jsonl")
    assert code == 0
    assert (report["new"], report["rejected"]) == (236, 0)
    code, report = ingest_json(settings_env, shared_data / "seed-papers.jsonl")
    assert (code, report["new"], report["updated"], report["unchanged"]) == (0, 0, 0, 236)


@pytest.mark.parametrize("read_ahead_mb", ["0", "1"], ids=["serial", "read-ahead"])
def test_snapshot_sample_keeps_version_histories(settings_env: dict[str, str], shared_data: Path,
                                                 read_ahead_mb: str) -> None:
    # The sample is 1.6 MB: with a 1 MiB threshold a second process reads and validates it.
    settings_env = {**settings_env, "PAPERCAST_INGEST_READ_AHEAD_MB": read_ahead_mb}
    code, report = ingest_json(settings_env, shared_data / "arxiv-abs-sample.jsonl")
    assert code == 0
    assert report["new"] == 1130
    assert report["rejected"] == 0
    code, out, _ = papercast(settings_env, "papers", "show", "1810.04805", "--json")
    bert = json.loads(out)
    assert [v["version"] for v in bert["versions"]] == [1, 2]
    assert bert["title"].startswith("BERT")
    assert [a["name"] for a in bert["authors"]][:2] == ["Jacob Devlin", "Ming-Wei Chang"]
    code, out, _ = papercast(settings_env, "papers", "show", "hep-th/9901001", "--json")
    assert [v["version"] for v in json.loads(out)["versions"]] == [1, 2, 3]
    code, report = ingest_json(settings_env, shared_data / "arxiv-abs-sample.jsonl")
    assert (report["new"], report["updated"]) == (0, 0)


FIXTURE_IDS = {
    "arxiv-oai-pmh/mikesaelim-arXivOAIHarvester/ListRecordsResponse.xml": None,
    "arxiv-oai-pmh/inspirehep-hepcrawl/arxiv-single.xml": "1401.2122",
    "arxiv-api-atom/lukasschwab-arxiv.py/2026-recorded/id_astro-ph_0601001_s0_m100_3150dca9dc76.json":
        "astro-ph/0601001",
    "arxiv-api-atom/lukasschwab-arxiv.py/2016-legacy/id_list_1111.2011v2.xml": "1111.2011",
}


def _fixture_files(shared_data: Path) -> list[Path]:
    root = shared_data / "fixtures"
    return sorted(
        p for folder in ("arxiv-api-atom", "arxiv-oai-pmh", "arxiv-rss", "hf-daily-papers")
        for p in (root / folder).rglob("*") if p.is_file()
    )


def test_every_recorded_response_is_ingested_or_named_as_an_error(
    settings_env: dict[str, str], shared_data: Path
) -> None:
    files = _fixture_files(shared_data)
    assert len(files) >= 40
    code, report = ingest_json(settings_env, *files)
    errors = {Path(e["path"]).name: e for e in report["errors"]}  # type: ignore[union-attr]
    # The recorded error responses, and only those, are reported as errors naming arXiv's code.
    assert set(errors) == {
        "ErrorResponseBadResumptionToken.xml", "ErrorResponseBadVerb.xml", "ErrorResponseIdDoesNotExist.xml",
        "ErrorResponseBadArgument.xml", "ErrorResponseNoRecordsMatch.xml", "sample_empty_response.xml",
        "id_abc_s0_m100_b79c8dcf6bc3.json",
    }
    assert errors["ErrorResponseIdDoesNotExist.xml"]["code"] == "idDoesNotExist"
    assert "idDoesNotExist" in errors["ErrorResponseIdDoesNotExist.xml"]["error"]
    assert "incorrect id format" in errors["id_abc_s0_m100_b79c8dcf6bc3.json"]["error"].lower()
    assert code == 1
    assert report["new"] > 150
    for fixture, paper_id in FIXTURE_IDS.items():
        if paper_id:
            code, out, _ = papercast(settings_env, "papers", "show", paper_id, "--json")
            assert code == 0, fixture
            assert json.loads(out)["id"] == paper_id
    hf = json.loads((shared_data / "fixtures/hf-daily-papers/lucas-m-lopes-sotawhat/hf_daily_papers.json")
                    .read_text())
    top = max(hf, key=lambda entry: entry["paper"]["upvotes"])
    code, out, _ = papercast(settings_env, "papers", "show", top["paper"]["id"], "--json")
    signals = json.loads(out)["signals"]
    assert [s["upvotes"] for s in signals if s["source"] == "hf-daily"] == [top["paper"]["upvotes"]]
    code, again = ingest_json(settings_env, *files)
    assert (again["new"], again["updated"]) == (0, 0)


def test_bad_lines_are_rejected_by_number_and_good_ones_kept(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    good = {"id": "seed-900", "title": "A good paper", "abstract": "Fine."}
    lines = [
        json.dumps(good),
        '{"id": "seed-901", "title": "broken',
        json.dumps({"id": "seed-902", "abstract": "no title"}),
        json.dumps({"id": "not an id!", "title": "x"}),
        json.dumps({"id": "seed-903", "title": "t" * 5000}),
        json.dumps({"id": "seed-904", "title": "<script>alert(1)</script>",
                    "abstract": "<img src=x onerror=alert(1)>"}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, report = ingest_json(settings_env, path)
    assert code == 1
    assert (report["new"], report["rejected"]) == (2, 4)
    reasons = {r["location"]: r["reason"] for r in report["rejections"]}  # type: ignore[union-attr]
    assert any("line 2" in where and "JSON" in why for where, why in reasons.items())
    assert any("title" in why for why in reasons.values())
    assert any("id" in why for why in reasons.values())
    code, out, _ = papercast(settings_env, "papers", "show", "seed-904", "--json")
    assert json.loads(out)["title"] == "<script>alert(1)</script>"


def test_nothing_stored_is_lost_when_a_later_file_is_broken(
    settings_env: dict[str, str], shared_data: Path, tmp_path: Path
) -> None:
    ingest_json(settings_env, shared_data / "seed-papers.jsonl")
    broken = tmp_path / "broken.xml"
    broken.write_text("<OAI-PMH xmlns='http://www.openarchives.org/OAI/2.0/'><ListRecords><record>")
    code, report = ingest_json(settings_env, broken)
    assert code == 1 and report["errors"]
    code, again = ingest_json(settings_env, shared_data / "seed-papers.jsonl")
    assert again["unchanged"] == 236


def test_format_mismatch_is_a_clear_error(settings_env: dict[str, str], shared_data: Path) -> None:
    seed = str(shared_data / "seed-papers.jsonl")
    code, out, err = papercast(settings_env, "ingest", "--format", "rss", seed)
    assert code == 1
    assert "seed-papers.jsonl" in err
    assert "Traceback" not in err + out


def test_unknown_paper_is_a_message_not_a_trace(settings_env: dict[str, str]) -> None:
    code, out, err = papercast(settings_env, "papers", "show", "2101.99999")
    assert code == 1
    assert "no paper '2101.99999'" in err
    code, out, err = papercast(settings_env, "papers", "show", "../../etc/passwd")
    assert code == 2
    assert "invalid paper id" in err


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "check"], ["db", "status"], ["status"]])
def test_database_commands_honour_the_environment(settings_env: dict[str, str], command: list[str]) -> None:
    assert papercast(settings_env, "db", "upgrade")[0] == 0
    code, out, err = papercast(settings_env, *command)
    assert code == 0, err
    if command == ["db", "status"]:
        assert "head" in out
