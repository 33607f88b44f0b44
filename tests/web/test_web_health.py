"""`/healthz` and `/metrics` (Prometheus text format)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from web_corpus import FILLER_COUNT, MATH_ID, make_papercast

from papercast.bootstrap import Papercast, build
from papercast.domain.jobs import JobEvent
from papercast.domain.mail import MailRequest
from papercast.settings import Settings
from papercast.web.app import create_app
from support.clock import ManualClock


def test_healthz_is_ok_on_a_current_schema(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["schema"] == "current"
    assert response.headers["cache-control"] == "no-store"


def test_healthz_is_503_on_an_old_schema(client: TestClient, papercast: Papercast) -> None:
    with papercast.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001_catalog'"))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["schema"] == "out of date" and "papercast db upgrade" in body["detail"]


def test_healthz_is_503_when_the_database_is_gone(client: TestClient, papercast: Papercast) -> None:
    with papercast.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    assert client.get("/healthz").status_code == 503


def test_metrics_count_by_route_template(client: TestClient) -> None:
    client.get(f"/papers/{MATH_ID}")
    client.get("/papers/hep-th/9901001")
    client.get("/papers/2301.99999")
    client.get("/no/such/thing")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = response.text
    paper_route = 'papercast_http_requests_total{method="GET",route="/papers/{paper_id}"'
    assert f'{paper_route},status="200"}} 2' in body
    assert f'{paper_route},status="404"}} 1' in body
    assert 'route="unmatched",status="404"} 1' in body
    assert "/no/such/thing" not in body  # raw paths never become labels
    assert re.search(r'papercast_http_request_duration_seconds_bucket\{route="/papers/\{paper_id\}",'
                     r'le="\+Inf"\} 3', body)
    assert 'papercast_http_request_duration_seconds_count{route="/papers/{paper_id}"} 3' in body
    assert f"papercast_catalog_papers {FILLER_COUNT + 4}" in body
    assert "# TYPE papercast_http_request_duration_seconds histogram" in body


def test_metrics_report_the_embedding_backlog(database_url: str, tmp_path: Path) -> None:
    papercast = make_papercast(database_url, tmp_path, embedding_model="hashing")
    try:
        with TestClient(create_app(papercast.web_services())) as client:
            body = client.get("/metrics").text
        model = papercast.embedding_model_id()
        assert f'papercast_embedding_backlog{{model="{model}"}} {FILLER_COUNT + 4}' in body
    finally:
        papercast.close()


def test_metrics_report_jobs_by_kind_and_state_the_due_ones_and_the_mail_outbox(
        database_url: str, tmp_path: Path) -> None:
    clock = ManualClock()
    papercast = build(Settings.load(env={}, data_dir=tmp_path, database_url=database_url), clock)
    try:
        jobs = papercast.jobs
        jobs.enqueue("embed-backlog")
        clock.advance(30)
        jobs.enqueue("harvest", {"source": "oai:cs"})
        later = clock.now() + timedelta(hours=1)
        jobs.enqueue("harvest", {"source": "hf-daily"}, run_at=later)  # not due yet
        failed = jobs.enqueue("send-mail")
        assert failed is not None and jobs.claim("w", ["send-mail"], timedelta(minutes=1)) is not None
        jobs.fail(failed, "w", JobEvent.GIVE_UP, "boom", None)
        papercast.mail_queue().submit(MailRequest(to="reader@example.org", template="test",
                                                  context={"queued_at": "09:00"}))
        clock.advance(15)
        with TestClient(create_app(papercast.web_services())) as client:
            body = client.get("/metrics").text
    finally:
        papercast.close()
    samples = dict(line.rsplit(" ", 1) for line in body.splitlines() if not line.startswith("#"))
    assert samples['papercast_jobs{kind="embed-backlog",state="due"}'] == "1"
    assert samples['papercast_jobs{kind="harvest",state="due"}'] == "2"
    assert samples['papercast_jobs{kind="send-mail",state="dead"}'] == "1"
    assert samples["papercast_jobs_due"] == "2"  # the harvest for later is not waiting yet
    assert samples["papercast_jobs_oldest_due_age_seconds"] == "45"  # embed-backlog, queued 45 s ago
    assert samples['papercast_mail_messages{state="queued"}'] == "1"
    assert samples['papercast_mail_messages{state="sent"}'] == "0"
    assert samples["papercast_catalog_papers"] == "0"
    for metric in ("papercast_jobs", "papercast_mail_messages", "papercast_jobs_due"):
        assert body.count(f"# TYPE {metric} gauge\n") == 1  # one TYPE per metric, however many samples
