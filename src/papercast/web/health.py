"""`/healthz` (is the database there, is its schema the one this code needs) and `/metrics`: HTTP
traffic counted in this process, and the catalog, jobs, mail and embedding backlog as gauges read
from the database when scraped (the same numbers whichever process answers)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, PlainTextResponse, Response

from papercast.domain.operations import OperationsSnapshot
from papercast.web.context import Web
from papercast.web.metrics import Gauge

router = APIRouter(include_in_schema=False)
PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
def healthz(web: Web) -> Response:
    """200 when the database answers and its schema is current; 503 (with the reason) otherwise."""
    status = web.health.status()
    if status.ok:
        return JSONResponse({"status": "ok", "database": "ok", "schema": "current",
                             "revision": status.revision}, headers=_NO_STORE)
    return JSONResponse({"status": "unavailable", "database": status.database, "schema": status.schema,
                         "detail": status.detail}, status_code=503, headers=_NO_STORE)


@router.get("/metrics")
def metrics(web: Web) -> Response:
    text = web.metrics.render(operations_gauges(web.operations.snapshot()))
    return PlainTextResponse(text, media_type=PROMETHEUS_MEDIA_TYPE, headers=_NO_STORE)


def operations_gauges(snapshot: OperationsSnapshot) -> list[Gauge]:
    """The snapshot as Prometheus gauges. Job and mail counts are gauges, not counters: done jobs
    are pruned after PAPERCAST_JOBS_KEEP_DAYS, so the counts can fall."""
    gauges = [Gauge("papercast_catalog_papers", "Papers in the catalog.", snapshot.papers)]
    if snapshot.embedding_backlog is not None:
        model, pending = snapshot.embedding_backlog
        gauges.append(Gauge("papercast_embedding_backlog", "Papers waiting for an embedding, by model.",
                            pending, (("model", model),)))
    gauges += [Gauge("papercast_jobs", "Jobs in the jobs table by kind and state (done ones until pruned).",
                     count, (("kind", kind), ("state", state)))
               for (kind, state), count in sorted(snapshot.jobs.by_kind_and_state.items())]
    gauges += [
        Gauge("papercast_jobs_due",
              "Jobs waiting for a worker now (due, or failed and past their retry time).", snapshot.jobs.due),
        Gauge("papercast_jobs_oldest_due_age_seconds",
              "How long the longest-waiting due job has waited for a worker; 0 when none waits.",
              snapshot.oldest_due_age_seconds),
    ]
    gauges += [Gauge("papercast_mail_messages", "Mail outbox messages by state.", count, (("state", state),))
               for state, count in snapshot.mail_by_state.items()]
    return gauges
