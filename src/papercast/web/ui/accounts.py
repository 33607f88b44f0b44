"""Account pages: sign in by mailed link, sign out (here or everywhere), API tokens, delete account.

Every page here is `no-store`: they hold CSRF tokens, a link's address or a new API token.
A GET never changes anything (mail scanners open links); each change is a POST form that
works without JavaScript and is checked for CSRF by `web/csrf.py` before it gets here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from papercast.domain.accounts import Reader, parse_scope
from papercast.domain.errors import InvalidInput, NotAllowed
from papercast.domain.tokens import ExpiredToken, InvalidToken, UsedToken
from papercast.services.accounts import AccountService
from papercast.web.context import Web, WebContext
from papercast.web.csrf import ensure_anonymous_cookie, is_secure, set_anonymous_cookie
from papercast.web.forms import FormFields
from papercast.web.readers import SESSION_COOKIE, request_cookie, session_reader

router = APIRouter(include_in_schema=False)

DELETE_CONFIRMATION = "delete"


def _accounts(web: WebContext) -> AccountService:
    return web.accounts()


def _page(request: Request, web: WebContext, template: str, context: dict[str, Any],
          status: int = 200) -> Response:
    """A page no cache keeps, with the anonymous form cookie set when its forms need one."""
    new_cookie = ensure_anonymous_cookie(request)
    response = web.templates.TemplateResponse(request, template, context, status_code=status,
                                              headers={"Cache-Control": "no-store"})
    set_anonymous_cookie(request, response, new_cookie)
    return response


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/sign-in")
def sign_in_form(request: Request, web: Web, sent: bool = False) -> Response:
    return _page(request, web, "sign_in.html", {"active": "sign-in", "sent": sent, "error": None,
                                                "minutes": _minutes(web)})


@router.post("/sign-in")
def request_link(request: Request, web: Web, fields: FormFields) -> Response:
    """One answer for every well-formed address (known, unknown, disabled, over a limit): the same
    redirect, byte for byte. Only a malformed address is answered with an error."""
    client = request.client.host if request.client else "unknown"
    email = fields.get("email", "")
    try:
        _accounts(web).request_sign_in(email, client)
    except InvalidInput as error:
        return _page(request, web, "sign_in.html", {"active": "sign-in", "sent": False,
                                                    "error": error.message, "email": email,
                                                    "minutes": _minutes(web)}, 400)
    return _see_other("/sign-in?sent=1")


@router.get("/sign-in/confirm")
def confirm_page(request: Request, web: Web, token: str = "") -> Response:
    """The page a mailed link opens: a button, never a sign-in (link scanners fetch links)."""
    try:
        email = _accounts(web).check_sign_in_link(token)
    except InvalidToken as error:
        return _link_refused(request, web, error)
    return _page(request, web, "sign_in_confirm.html", {"active": "sign-in", "token": token, "email": email})


@router.post("/sign-in/confirm")
def confirm(request: Request, web: Web, fields: FormFields) -> Response:
    accounts = _accounts(web)
    try:
        started = accounts.sign_in(fields.get("token", ""), request.headers.get("user-agent", ""),
                                   replacing=request_cookie(request.headers, SESSION_COOKIE))
    except InvalidToken as error:
        return _link_refused(request, web, error)
    except NotAllowed as error:
        return _page(request, web, "error.html",
                     {"status": 403, "title": "Not allowed", "detail": str(error)}, 403)
    response = _see_other("/")
    max_age = int(accounts.policy.session_lifetime.total_seconds())
    response.set_cookie(SESSION_COOKIE, started.token, max_age=max_age, path="/", httponly=True,
                        samesite="lax", secure=is_secure(request))
    return response


def _link_refused(request: Request, web: WebContext, error: InvalidToken) -> Response:
    if isinstance(error, ExpiredToken):
        reason = "This sign-in link has expired."
    elif isinstance(error, UsedToken):
        reason = "This sign-in link was used already: each link signs in once."
    else:
        reason = "This sign-in link is not valid here (it may be incomplete: copy the whole address)."
    return _page(request, web, "sign_in_link_refused.html", {"active": "sign-in", "reason": reason,
                                                             "minutes": _minutes(web)}, 400)


@router.post("/sign-out")
def sign_out(request: Request, web: Web) -> Response:
    session = request_cookie(request.headers, SESSION_COOKIE)
    if session is not None:
        _accounts(web).sign_out(session)
    return _signed_out()


def _signed_out() -> Response:
    response = _see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/settings")
def settings_page(request: Request, web: Web) -> Response:
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    return _settings(request, web, reader)


def _settings(request: Request, web: WebContext, reader: Reader, status: int = 200,
              **extra: Any) -> Response:
    accounts = _accounts(web)
    context = {"active": "settings", "reader": reader, "sessions": accounts.sessions(reader.user_id),
               "tokens": accounts.api_tokens(reader.user_id), "new_token": None, "token_error": None,
               "session_days": accounts.policy.session_lifetime.days, **extra}
    return _page(request, web, "settings.html", context, status)


@router.post("/settings/sign-out-everywhere")
def sign_out_everywhere(request: Request, web: Web) -> Response:
    reader = session_reader(request)
    if reader is not None:
        _accounts(web).sign_out_everywhere(reader.user_id)
    return _signed_out()


@router.post("/settings/tokens")
def create_token(request: Request, web: Web, fields: FormFields) -> Response:
    """Create an API token and show it, once, on the page this POST answers (never stored in clear)."""
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    try:
        scope = parse_scope(fields.get("scope", "read"))
        token, info = _accounts(web).create_api_token(reader.user_id, fields.get("name", ""), scope)
    except InvalidInput as error:
        return _settings(request, web, reader, 400, token_error=error.message)
    return _settings(request, web, reader, new_token={"text": token, "info": info})


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(request: Request, web: Web, token_id: int) -> Response:
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    _accounts(web).revoke_api_token(reader.user_id, token_id)
    return _see_other("/settings")


@router.get("/settings/delete")
def delete_page(request: Request, web: Web) -> Response:
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    return _page(request, web, "account_delete.html", {"active": "settings", "reader": reader, "error": None})


@router.post("/settings/delete")
def delete_account(request: Request, web: Web, fields: FormFields) -> Response:
    reader = session_reader(request)
    if reader is None:
        return _see_other("/sign-in")
    if fields.get("confirm", "").strip().lower() != DELETE_CONFIRMATION:
        return _page(request, web, "account_delete.html", {
            "active": "settings", "reader": reader,
            "error": f"Type {DELETE_CONFIRMATION} in the box to confirm."}, 400)
    _accounts(web).delete_account(reader.user_id)
    return _signed_out()


def _minutes(web: WebContext) -> int:
    return int(_accounts(web).policy.link_max_age.total_seconds() // 60)
