"""The JSON API of recommendations: the reader's list ("for you", or "more like my library"),
"not interested" (POST to hide a paper, DELETE to take it back) and seeding a profile from arXiv
ids or BibTeX. Answers about the reader are never cached.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from papercast.domain.errors import InvalidInput, NotAllowed
from papercast.domain.tokens import InvalidToken
from papercast.services.votes import MAX_EXPORT
from papercast.web.api import schemas
from papercast.web.api.routes import PaperId, json_response
from papercast.web.context import Web
from papercast.web.presenters import recommendation_resources
from papercast.web.readers import CanWrite, SignedIn

router = APIRouter()
MAX_SEED_BYTES = 2 * 2**20
RecommendationLimit = Annotated[int, Query(ge=1, le=100, description="how many papers")]


@router.get("/me/recommendations", tags=["recommendations"], response_model=None,
            summary="Papers recommended to you, each with its reason",
            responses=schemas.problem_responses(401))
def my_recommendations(request: Request, reader: SignedIn, web: Web, limit: RecommendationLimit = 20,
                       source: Annotated[Literal["model", "library"], Query(
                           alias="from", description="model: your recommendations; library: papers "
                                                     "nearest to your saved papers as a whole")] = "model",
                       ) -> Response:
    service = web.recommendations()
    if source == "library":
        saved = [entry.paper.paper_id for entry in web.votes().library(reader.user_id, 0, MAX_EXPORT).entries]
        items, cold = service.more_like(saved, limit), False
        body = {"papers": recommendation_resources(items), "cold_start": cold, "from": source}
    else:
        result = service.recommend(reader.user_id, limit)
        body = {"papers": recommendation_resources(result.items), "cold_start": result.cold, "from": source,
                "fitted_at": result.fitted_at.isoformat() if result.fitted_at else None}
    return json_response(request, body, web, store=False)


def _not_interested(request: Request, web: Web, user_id: int, paper_id: str, on: bool) -> Response:
    web.recommendations().not_interested(user_id, paper_id, on)
    return json_response(request, {"paper_id": paper_id, "not_interested": on}, web, store=False)


@router.post("/papers/{paper_id:path}/not-interested", tags=["recommendations"], response_model=None,
             summary="Hide a paper from your recommendations (needs the write scope)",
             responses=schemas.problem_responses(401, 403, 404))
def add_not_interested(request: Request, paper_id: PaperId, reader: CanWrite, web: Web) -> Response:
    return _not_interested(request, web, reader.user_id, paper_id, True)


@router.delete("/papers/{paper_id:path}/not-interested", tags=["recommendations"], response_model=None,
               summary="Take back a \"not interested\"", responses=schemas.problem_responses(401, 403, 404))
def remove_not_interested(request: Request, paper_id: PaperId, reader: CanWrite, web: Web) -> Response:
    return _not_interested(request, web, reader.user_id, paper_id, False)


@router.post("/not-interested", tags=["recommendations"], response_model=None,
             summary="Act on a digest's signed \"not interested\" link (the token is the credential)",
             responses=schemas.problem_responses(403, 404))
def not_interested_by_link(request: Request, web: Web,
                           token: Annotated[str, Query(max_length=2000, description="the link's token")],
                           ) -> Response:
    try:
        paper_id = web.recommendations().not_interested_by_link(token)
    except InvalidToken as error:  # the token is this request's credential: a bad one is refused
        raise NotAllowed(f"this link does not work: {error}") from error
    if "text/html" in request.headers.get("accept", ""):  # the page's button, without a script
        return RedirectResponse(f"/not-interested?done={quote(paper_id)}", status_code=303,
                                headers={"Cache-Control": "no-store"})
    return json_response(request, {"paper_id": paper_id, "not_interested": True}, web, store=False)


@router.post("/me/seed", tags=["recommendations"], response_model=None,
             summary="Seed your profile from arXiv ids or a BibTeX file (needs the write scope)",
             responses=schemas.problem_responses(400, 401, 403))
async def seed(request: Request, reader: CanWrite, web: Web) -> Response:
    """The body is the text itself (`text/plain`, `application/x-bibtex`) or JSON `{"text": …}`."""
    raw = await request.body()
    if len(raw) > MAX_SEED_BYTES:
        raise InvalidInput(f"the seed is over {MAX_SEED_BYTES // 2**20} MiB", field="body")
    text = _seed_text(raw, request.headers.get("content-type", ""))
    report = web.recommendations().seed(reader.user_id, text)
    body = {"used": list(report.used), "problems": [{"where": problem.where, "reason": problem.reason}
                                                    for problem in report.problems]}
    return json_response(request, body, web, store=False)


def _seed_text(raw: bytes, content_type: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the seed is not UTF-8 text (byte {error.start + 1})", field="body") from error
    if content_type.split(";")[0].strip() == "application/json":
        try:
            value = json.loads(text)
        except ValueError as error:
            raise InvalidInput("the body is not JSON", field="body") from error
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise InvalidInput('expected {"text": "arXiv ids or BibTeX"}', field="text")
        return str(value["text"])
    return text
