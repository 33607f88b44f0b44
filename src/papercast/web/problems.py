"""RFC 9457 problem details: the one error shape of the JSON API and the feeds.

`{"type", "title", "status", "detail", "instance"}` as `application/problem+json`; a 422 adds
`errors`, the fields that were wrong. `type` is `about:blank`, so `title` is the status phrase.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Paths whose errors are problem documents; every other path gets an HTML error page.
MACHINE_PREFIXES = ("/api/", "/feeds/")


def wants_problem(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


def problem_body(status: int, detail: str, instance: str, **extensions: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": _phrase(status),
        "status": status,
        "detail": detail,
        "instance": instance,
        **{name: value for name, value in extensions.items() if value is not None},
    }


def problem_bytes(status: int, detail: str, instance: str, **extensions: Any) -> bytes:
    body = problem_body(status, detail, instance, **extensions)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def problem_response(status: int, detail: str, instance: str, headers: dict[str, str] | None = None,
                     **extensions: Any) -> Response:
    return Response(problem_bytes(status, detail, instance, **extensions), status_code=status,
                    media_type=PROBLEM_MEDIA_TYPE, headers={"Cache-Control": "no-store", **(headers or {})})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
