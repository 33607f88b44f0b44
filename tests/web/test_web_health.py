"""`/healthz` and `/metrics` (Prometheus text format)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from web_corpus import FILLER_COUNT, MATH_ID, make_papercast

from papercast.bootstrap import Papercast
from papercast.web.app import create_app


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
        with TestClient(create_app(papercast)) as client:
            body = client.get("/metrics").text
        model = papercast.embedding_model_id()
        assert f'papercast_embedding_backlog{{model="{model}"}} {FILLER_COUNT + 4}' in body
    finally:
        papercast.close()
