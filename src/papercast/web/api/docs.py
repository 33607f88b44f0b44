"""`/api/docs`: the API reference as a plain server-rendered page, built from the OpenAPI document.

Swagger UI and ReDoc load scripts from a CDN and run inline script; papercast runs offline
under a CSP that allows only its own scripts, so this page lists the same endpoints with no
JavaScript at all. The raw document is at `/api/v1/openapi.json` for any OpenAPI tool.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from papercast.web.ui.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/api/docs")
def api_docs(request: Request) -> Response:
    spec = request.app.openapi()
    return render(request, "api_docs.html", {"spec": spec, "endpoints": endpoints(spec)})


def endpoints(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            found.append({
                "method": method.upper(), "path": path,
                "anchor": re.sub(r"[^a-z0-9]+", "-", f"{method}-{path}".lower()).strip("-"),
                "summary": operation.get("summary", ""), "description": operation.get("description", ""),
                "parameters": [_parameter(p) for p in operation.get("parameters", [])],
                "responses": [(code, r.get("description", "")) for code, r in responses.items()],
            })
    return found


def _parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = parameter.get("schema", {})
    kinds = [s.get("type", "") for s in schema.get("anyOf", [])] or [schema.get("type", "")]
    kind = " or ".join(k for k in kinds if k and k != "null")
    if "enum" in schema:
        kind += " (" + ", ".join(map(str, schema["enum"])) + ")"
    return {"name": parameter.get("name", ""), "in": parameter.get("in", ""), "type": kind,
            "required": parameter.get("required", False),
            "description": parameter.get("description", schema.get("description", ""))}
