"""HTML forms as the pages send them (`application/x-www-form-urlencoded`), read without the
`python-multipart` package: papercast's forms carry a few short fields and never files.

Routes take `fields: FormFields` (a dict of the first value of each field); the CSRF check
reads the same body with `parse_form` before the route runs.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends
from starlette.requests import Request

from papercast.domain.errors import InvalidInput

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 100


def parse_form(body: bytes) -> dict[str, str]:
    """The first value of each field; InvalidInput for a body no form of ours would send."""
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB", field="form")
    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidInput(f"the form could not be read: {error}", field="form") from error
    return {name: found[0] for name, found in values.items()}


async def form_fields(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith(FORM_TYPE):
        raise InvalidInput(f"send the form as {FORM_TYPE}", field="form")
    return parse_form(await request.body())


FormFields = Annotated[dict[str, str], Depends(form_fields)]
