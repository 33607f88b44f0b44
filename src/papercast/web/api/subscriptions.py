"""The JSON API of digest subscriptions: subscribe (`POST /subscriptions`, double opt-in by mail,
the same answer for any address), and a signed-in reader's own subscription (`/me/subscription`).

Subscribing with a session or an API token uses the account's address, proven by its sign-in,
so it needs no confirmation mail. Reads and writes of `/me/subscription` are never cached.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from papercast.domain.accounts import Scope
from papercast.domain.errors import NotAllowed
from papercast.domain.subscriptions import Preferences, Subscriber, parse_preferences
from papercast.services.subscriptions import ByAccount
from papercast.web.api import schemas
from papercast.web.api.routes import json_response
from papercast.web.context import Web
from papercast.web.readers import CanWrite, SignedIn, current_reader

router = APIRouter(tags=["subscriptions"])

ACCEPTED = {"status": "accepted",
            "detail": "If this address can be subscribed, a confirmation mail is on its way; nothing is sent "
                      "to it before its link is opened."}


@router.post("/subscriptions", summary="Subscribe to the digest", status_code=202, response_model=None,
             responses={202: {"model": schemas.SubscriptionAccepted,
                              "description": "Accepted: the same answer for any well-formed address"},
                        200: {"model": schemas.Subscription,
                              "description": "Signed in: the reader's subscription, confirmed"},
                        **schemas.problem_responses(400, 403)})
def subscribe(request: Request, body: schemas.SubscriptionRequest, web: Web) -> Response:
    preferences = parse_preferences(topics=body.topics, categories=body.categories, frequency=body.frequency,
                                    send_hour=body.send_hour, time_zone=body.time_zone)
    reader = current_reader(request)
    service = web.subscriptions()
    if reader is not None:
        if not reader.may(Scope.WRITE):
            raise NotAllowed("this API token may only read; create one with the write scope to subscribe")
        subscriber = service.subscribe_reader(reader.user_id, reader.email, preferences, name=body.name)
        return json_response(request, _subscription(subscriber), web, store=False)
    client = request.client.host if request.client else "unknown"
    service.request(body.email or "", preferences, client, name=body.name, source="api")
    return JSONResponse(ACCEPTED, status_code=202, headers={"Cache-Control": "no-store"})


@router.get("/me/subscription", summary="My digest subscription", response_model=None,
            responses=schemas.responses(schemas.Subscription, 401, 404))
def my_subscription(request: Request, reader: SignedIn, web: Web) -> Response:
    subscriber = web.subscriptions().find(ByAccount(reader.user_id))
    return json_response(request, _subscription(subscriber), web, store=False)


@router.patch("/me/subscription", summary="Change my digest subscription (needs the write scope)",
              response_model=None, responses=schemas.responses(schemas.Subscription, 400, 401, 403, 404, 409))
def change_subscription(request: Request, reader: CanWrite, body: schemas.SubscriptionChanges,
                        web: Web) -> Response:
    service = web.subscriptions()
    holder = ByAccount(reader.user_id)
    current = service.find(holder)
    chosen = _changed(current.preferences, body)
    if chosen != current.preferences:
        service.set_preferences(holder, chosen)
    if body.paused is True:
        service.pause(holder)
    elif body.paused is False:
        service.resume(holder)
    return json_response(request, _subscription(service.find(holder)), web, store=False)


@router.delete("/me/subscription", summary="Unsubscribe from the digest (needs the write scope)",
               status_code=204, response_model=None,
               responses={204: {"description": "Unsubscribed"}, **schemas.problem_responses(401, 403, 404)})
def unsubscribe(reader: CanWrite, web: Web) -> Response:
    web.subscriptions().unsubscribe(ByAccount(reader.user_id))
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


def _changed(current: Preferences, body: schemas.SubscriptionChanges) -> Preferences:
    replacing_topics = body.topics is not None or body.categories is not None
    return parse_preferences(
        topics=(body.topics or []) if replacing_topics else current.topics, categories=body.categories or [],
        frequency=body.frequency if body.frequency is not None else current.frequency.value,
        send_hour=body.send_hour if body.send_hour is not None else current.send_hour,
        time_zone=body.time_zone if body.time_zone is not None else current.time_zone)


def _subscription(subscriber: Subscriber) -> dict[str, object]:
    chosen = subscriber.preferences
    return {"id": subscriber.id, "email": subscriber.email, "name": subscriber.name,
            "state": subscriber.state.value, "topics": list(chosen.topics),
            "frequency": chosen.frequency.value, "send_hour": chosen.send_hour, "time_zone": chosen.time_zone,
            "created_at": subscriber.created_at.isoformat(), "confirmed_at": _iso(subscriber.confirmed_at),
            "consented_at": _iso(subscriber.consented_at)}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
