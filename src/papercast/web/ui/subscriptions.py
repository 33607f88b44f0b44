"""Digest subscription pages: subscribe (a small form on every page leads here), confirm by
mailed link, the preferences page a signed link opens, and one-click unsubscribe (RFC 8058).

Every page here is `no-store`: they hold CSRF tokens, an address or a subscriber's link. A GET
never changes anything (mail scanners open links); each change is a POST form that works
without JavaScript and is checked for CSRF by `web/csrf.py`, except the one-click unsubscribe,
which its signed link authorises (`EXEMPT_PATHS`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from papercast.domain.errors import Conflict, InvalidInput, NotFound, PapercastError
from papercast.domain.subscriptions import (
    DEFAULT_SEND_HOUR,
    MAX_TOPICS,
    Preferences,
    Subscriber,
    SupersededLink,
    parse_preferences,
    parse_time_zone,
    parse_topic,
)
from papercast.domain.tokens import ExpiredToken, InvalidToken, UsedToken
from papercast.services.subscriptions import ByAccount, ByLink, Holder, SubscriptionService
from papercast.web.context import Web, WebContext
from papercast.web.csrf import ensure_anonymous_cookie, set_anonymous_cookie
from papercast.web.forms import FormFields
from papercast.web.readers import session_reader

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
TOPIC_PREVIEW = 3  # papers shown under each topic on the preferences page


def _service(web: WebContext) -> SubscriptionService:
    return web.subscriptions()


def _page(request: Request, web: WebContext, template: str, context: dict[str, Any],
          status: int = 200, *, form_cookie: bool = True) -> Response:
    """A page no cache keeps, with the anonymous form cookie set when its forms need one."""
    new_cookie = ensure_anonymous_cookie(request) if form_cookie else None
    response = web.templates.TemplateResponse(request, template, {"active": "subscribe", **context},
                                              status_code=status, headers=NO_STORE)
    set_anonymous_cookie(request, response, new_cookie)
    return response


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=NO_STORE)


# -- subscribing -----------------------------------------------------------------------------


@router.get("/subscribe")
def subscribe_form(request: Request, web: Web, email: str = "", topic: str = "", frequency: str = "daily",
                   time_zone: str = "", sent: bool = False) -> Response:
    """The whole form (topics, frequency, hour, zone), filled from the small form's fields."""
    reader = session_reader(request)
    if reader is not None and not sent:
        try:
            _service(web).find(ByAccount(reader.user_id))
            return _see_other("/subscribe/preferences")
        except NotFound:
            pass  # no subscription yet: the form, with the account's address
    values = {"email": email, "name": "", "topics": topic, "categories": "", "frequency": frequency,
              "send_hour": str(DEFAULT_SEND_HOUR), "time_zone": _known_zone(time_zone)}
    # A zone the browser reported but zoneinfo does not know leaves the field empty (UTC), and
    # the page's script does not fill it in again.
    return _form(request, web, values, sent=sent, zone_reported=bool(time_zone.strip()))


def _known_zone(reported: str) -> str:
    """The browser's zone in its IANA spelling, or "" (UTC) when it is not one zoneinfo knows."""
    try:
        return parse_time_zone(reported) if reported.strip() else ""
    except InvalidInput:
        return ""


def _form(request: Request, web: WebContext, values: dict[str, str], *, sent: bool = False,
          error: InvalidInput | None = None, zone_reported: bool = False) -> Response:
    context = {"values": values, "sent": sent, "error": error, "hours": _hours(web),
               "zone_reported": zone_reported, "reader": session_reader(request), "max_topics": MAX_TOPICS}
    return _page(request, web, "subscribe.html", context, 400 if error else 200)


@router.post("/subscribe")
def subscribe(request: Request, web: Web, fields: FormFields) -> Response:
    """One answer for every well-formed request, whatever the address's state (new, unconfirmed,
    confirmed, unsubscribed, suppressed, over a limit): the same redirect, byte for byte. Only
    malformed input is answered with the form and its error. A signed-in reader subscribes
    their account's address at once."""
    values = {name: fields.get(name, "") for name in ("email", "name", "topics", "categories", "frequency",
                                                      "send_hour", "time_zone")}
    reader = session_reader(request)
    service = _service(web)
    try:
        preferences = _preferences(values)
        if reader is not None:
            service.subscribe_reader(reader.user_id, reader.email, preferences, name=values["name"])
            return _see_other("/subscribe/preferences?saved=1")
        client = request.client.host if request.client else "unknown"
        service.request(values["email"], preferences, client, name=values["name"])
    except InvalidInput as error:
        return _form(request, web, values, error=error)
    return _see_other("/subscribe?sent=1")


def _preferences(values: dict[str, str]) -> Preferences:
    """Preferences from the form: one topic a line, categories separated by commas or spaces."""
    topics = [line for line in values["topics"].splitlines() if line.strip()]
    categories = values["categories"].replace(",", " ").split()
    return parse_preferences(topics=topics, categories=categories, frequency=values["frequency"] or "daily",
                             send_hour=values["send_hour"] or DEFAULT_SEND_HOUR,
                             time_zone=values["time_zone"])


# -- confirming ------------------------------------------------------------------------------


@router.get("/subscribe/confirm")
def confirm_page(request: Request, web: Web, token: str = "") -> Response:
    """The page a confirmation link opens: what will be confirmed, and a button."""
    try:
        subscriber = _service(web).check_confirmation(token)
    except (InvalidToken, Conflict) as error:
        return _link_refused(request, web, error, "confirm")
    return _page(request, web, "subscribe_confirm.html", {"token": token, "subscriber": subscriber})


@router.post("/subscribe/confirm")
def confirm(request: Request, web: Web, fields: FormFields) -> Response:
    service = _service(web)
    try:
        subscriber = service.confirm(fields.get("token", ""))
    except (InvalidToken, Conflict) as error:
        return _link_refused(request, web, error, "confirm")
    return _see_other(service.preferences_path(subscriber) + "&confirmed=1")


def _link_refused(request: Request, web: WebContext, error: PapercastError, link: str) -> Response:
    if isinstance(error, SupersededLink | Conflict):
        reason = str(error)
    elif isinstance(error, ExpiredToken):
        reason = {"confirm": "This confirmation link has expired.",
                  "preferences": "This preferences link has expired: open the one in your latest digest."
                  }.get(link, "This link has expired.")
    elif isinstance(error, UsedToken):
        reason = "This confirmation link was used already."
    else:
        reason = "This link is not valid here (it may be incomplete: copy the whole address)."
    return _page(request, web, "subscription_link_refused.html", {"reason": reason, "link": link,
                                                                  "hours": _hours(web)}, 400,
                 form_cookie=False)


# -- preferences -----------------------------------------------------------------------------


@router.get("/subscribe/preferences")
def preferences_page(request: Request, web: Web, token: str = "", saved: bool = False,
                     confirmed: bool = False) -> Response:
    """A subscriber's preferences, by the signed link in every digest, or for a signed-in reader."""
    holder = _holder(request, token)
    if holder is None:
        return _see_other("/subscribe")
    try:
        subscriber = _service(web).find(holder)
    except InvalidToken as error:
        return _link_refused(request, web, error, "preferences")
    except NotFound:
        return _see_other("/subscribe")
    notice = "Your subscription is confirmed." if confirmed else "Saved." if saved else None
    return _preferences_page(request, web, subscriber, token, notice=notice)


def _preferences_page(request: Request, web: WebContext, subscriber: Subscriber, token: str, *,
                      notice: str | None = None, error: PapercastError | None = None,
                      status: int = 200) -> Response:
    service = _service(web)
    context = {"subscriber": subscriber, "token": token, "notice": notice, "error": error,
               "matches": [_matches(web, topic) for topic in subscriber.preferences.topics],
               "unsubscribe_path": service.unsubscribe_path(subscriber), "hours": _hours(web),
               "max_topics": MAX_TOPICS, "resubscribe": _resubscribe(subscriber)}
    return _page(request, web, "subscription_preferences.html", context, status)


def _matches(web: WebContext, topic: str) -> Any:
    """What a topic finds now (a few papers and the total), or None when search cannot answer."""
    try:
        return web.search.search(topic, "date", 0, TOPIC_PREVIEW)
    except PapercastError:  # an index being rebuilt: the page still works without the preview
        return None


@router.post("/subscribe/preferences")
def change_preferences(request: Request, web: Web, fields: FormFields) -> Response:
    """One form per change: save (frequency, hour, zone), add-topic, remove-topic, pause, resume."""
    token = fields.get("token", "")
    holder = _holder(request, token)
    if holder is None:
        return _see_other("/subscribe")
    service = _service(web)
    try:
        current = service.find(holder)
    except InvalidToken as error:
        return _link_refused(request, web, error, "preferences")
    except NotFound:
        return _see_other("/subscribe")
    try:
        _apply(service, holder, current, fields)
    except (InvalidInput, Conflict) as error:
        return _preferences_page(request, web, current, token, error=error,
                                 status=409 if isinstance(error, Conflict) else 400)
    return _see_other(f"/subscribe/preferences?token={quote(token)}&saved=1" if token
                      else "/subscribe/preferences?saved=1")


def _apply(service: SubscriptionService, holder: Holder, current: Subscriber, fields: dict[str, str]) -> None:
    action = fields.get("action", "")
    chosen = current.preferences
    if action == "pause":
        service.pause(holder)
    elif action == "resume":
        service.resume(holder)
    elif action == "add-topic":
        added = parse_topic(fields.get("topic", ""))
        service.set_preferences(holder, parse_preferences(
            topics=[*chosen.topics, added], frequency=chosen.frequency.value, send_hour=chosen.send_hour,
            time_zone=chosen.time_zone))
    elif action == "remove-topic":
        kept = [topic for topic in chosen.topics if topic != fields.get("topic", "")]
        service.set_preferences(holder, Preferences(tuple(kept), chosen.frequency, chosen.send_hour,
                                                    chosen.time_zone))
    elif action == "save":
        service.set_preferences(holder, parse_preferences(
            topics=chosen.topics, frequency=fields.get("frequency", ""),
            send_hour=fields.get("send_hour", ""), time_zone=fields.get("time_zone", "")))
    else:
        raise InvalidInput(f"{action[:40]!r} is not something this page does", field="action")


def _holder(request: Request, token: str) -> Holder | None:
    """Whose preferences: the link's, else the signed-in reader's, else nobody's."""
    if token:
        return ByLink(token)
    reader = session_reader(request)
    return ByAccount(reader.user_id) if reader is not None else None


# -- unsubscribing ---------------------------------------------------------------------------


@router.get("/unsubscribe")
def unsubscribe_page(request: Request, web: Web, token: str = "") -> Response:
    """A button, never an unsubscribe: link scanners and previews open links."""
    try:
        subscriber = _service(web).check_unsubscribe_link(token)
    except InvalidToken as error:
        return _link_refused(request, web, error, "unsubscribe")
    return _page(request, web, "unsubscribe.html", {"subscriber": subscriber, "token": token, "done": False},
                 form_cookie=False)


@router.post("/unsubscribe")
def unsubscribe(request: Request, web: Web, token: str = "") -> Response:
    """RFC 8058 one-click: a mail provider POSTs `List-Unsubscribe=One-Click` (urlencoded or
    multipart) without cookies; the signed link authorises it. 200 with a page, never a
    redirect; the same answer again for a second POST."""
    try:
        subscriber = _service(web).unsubscribe_by_link(token)
    except InvalidToken as error:
        return _link_refused(request, web, error, "unsubscribe")
    context = {"subscriber": subscriber, "token": token, "done": True,
               "resubscribe": _resubscribe(subscriber)}
    return _page(request, web, "unsubscribe.html", context, form_cookie=False)


def _resubscribe(subscriber: Subscriber) -> str:
    return "/subscribe?email=" + quote(subscriber.email or "")


def _hours(web: WebContext) -> int:
    return int(_service(web).policy.confirm_max_age.total_seconds() // 3600)

