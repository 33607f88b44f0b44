"""`/healthz` (is the database there, is its schema the one this code needs) and `/metrics`."""

from __future__ import annotations

import logging
from functools import cache

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import JSONResponse, PlainTextResponse, Response

from papercast.domain.errors import PapercastError, SchemaOutOfDate
from papercast.storage import migrations
from papercast.web.context import Web, WebContext
from papercast.web.metrics import Gauge

log = logging.getLogger("papercast.web.health")
router = APIRouter(include_in_schema=False)
PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NO_STORE = {"Cache-Control": "no-store"}


@cache
def _head_revision() -> str | None:
    return migrations.head_revision()


@router.get("/healthz")
def healthz(web: Web) -> Response:
    """200 when the database answers and its schema is current; 503 (with the reason) otherwise."""
    engine = web.papercast.engine
    try:
        current = migrations.current_revision(engine)
        if current != _head_revision():
            migrations.require_current(engine)
    except SchemaOutOfDate as error:
        return JSONResponse({"status": "unavailable", "database": "ok", "schema": "out of date",
                             "detail": str(error)}, status_code=503, headers=_NO_STORE)
    except SQLAlchemyError as error:
        log.warning("healthz.database_unreachable error=%s", type(error).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable", "schema": "unknown",
                             "detail": "the database does not answer"}, status_code=503, headers=_NO_STORE)
    return JSONResponse({"status": "ok", "database": "ok", "schema": "current", "revision": current},
                        headers=_NO_STORE)


@router.get("/metrics")
def metrics(web: Web) -> Response:
    text = web.metrics.render(_gauges(web))
    return PlainTextResponse(text, media_type=PROMETHEUS_MEDIA_TYPE, headers=_NO_STORE)


def _gauges(web: WebContext) -> list[Gauge]:
    gauges = [Gauge("papercast_catalog_papers", "Papers in the catalog.", web.catalog.stats().papers)]
    backlog = _embedding_backlog(web)
    if backlog is not None:
        model, pending = backlog
        gauges.append(Gauge("papercast_embedding_backlog", "Papers waiting for an embedding, by model.",
                            pending, (("model", model),)))
    return gauges


def _embedding_backlog(web: WebContext) -> tuple[str, int] | None:
    """(model id, papers not embedded with it); None where there is no model to count for."""
    papercast = web.papercast
    try:
        model_id = papercast.embedding_model_id()
        if model_id is None:  # a TF-IDF encoder not fitted yet: nothing is embedded with it
            return None
        return model_id, int(papercast.embedding_store().pending_count(model_id))
    except (ImportError, PapercastError) as error:  # embeddings not installed or not configured
        log.info("metrics.no_embedding_backlog reason=%s", error)
        return None
