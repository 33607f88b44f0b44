"""The JSON API for the reader making the request: who am I, and my API tokens.

Authorised by a session cookie or `Authorization: Bearer pct_…`; answers are never cached
(`web/readers.py` marks them private). Writes need a credential with the write scope
(`CanWrite`); the same dependency guards every writing route of the API.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from papercast.domain.accounts import ApiTokenInfo
from papercast.web.api import schemas
from papercast.web.api.routes import json_response
from papercast.web.context import Web
from papercast.web.readers import CanWrite, SignedIn

router = APIRouter(tags=["accounts"])


@router.get("/me", summary="Who the request is authorised as", response_model=None,
            responses=schemas.responses(schemas.Me, 401))
def me(request: Request, reader: SignedIn, web: Web) -> Response:
    return json_response(request, {"id": reader.user_id, "email": reader.email, "is_admin": reader.is_admin,
                                   "via": reader.via.value, "scope": reader.scope.value}, web)


@router.get("/me/tokens", summary="My API tokens that still work", response_model=None,
            responses=schemas.responses(schemas.ApiTokens, 401))
def my_tokens(request: Request, reader: SignedIn, web: Web) -> Response:
    tokens = web.accounts().api_tokens(reader.user_id)
    return json_response(request, {"tokens": [_token(token) for token in tokens]}, web)


@router.delete("/me/tokens/{token_id}", summary="Revoke one of my API tokens (needs the write scope)",
               status_code=204, response_model=None,
               responses={204: {"description": "Revoked"}, **schemas.problem_responses(401, 403, 404)})
def revoke_token(reader: CanWrite, web: Web,
                 token_id: int = Path(description="the token's id (from GET /api/v1/me/tokens)")) -> Response:
    web.accounts().revoke_api_token(reader.user_id, token_id)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


def _token(token: ApiTokenInfo) -> dict[str, object]:
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "scope": token.scope.value,
            "created_at": token.created_at.isoformat(), "last_used_at": _iso(token.last_used_at)}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
