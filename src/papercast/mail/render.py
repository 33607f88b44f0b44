"""Mail templates: a triplet per message (`subject.txt`, `body.txt`, `body.html`) rendered by Jinja2.

HTML is autoescaped, text is not. Templates may not load remote images or styles: mail
clients block them, and they tell a tracker who opened the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    meta,
)

from papercast.domain.errors import InvalidInput
from papercast.domain.mail import require_clean_header

TEMPLATE_PARTS = ("subject.txt", "body.txt", "body.html")
_TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_REMOTE_RESOURCE = re.compile(
    r"""(?ix) (?: \b(?:src|srcset|background|poster) \s*=\s* ["']? \s*
                | url\( \s* ["']? \s*
                | <link\b [^>]* \bhref \s*=\s* ["']? \s* )
              (?:https?:)?//""")


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class MailRenderer:
    """Renders the templates under `mail/templates/<name>/`; `url(path)` builds links from the base URL."""

    def __init__(self, base_url: str, loader: BaseLoader | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._loader = loader or PackageLoader("papercast.mail", "templates")
        self._environment = Environment(
            loader=self._loader,
            # On for .html only: a subject or a text body escaped as HTML would show `&amp;`.
            autoescape=lambda name: bool(name and name.endswith(".html")),
            undefined=StrictUndefined,
            # Block tags on lines of their own leave no blank lines behind in text bodies.
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self._environment.globals.update(url=self.url, base_url=self._base_url)
        self._checked: set[str] = set()  # HTML templates whose source loads no remote resource

    def url(self, path: str = "/") -> str:
        """The public address of `path` on this papercast (PAPERCAST_BASE_URL, never a request's Host)."""
        if not self._base_url:
            raise InvalidInput("PAPERCAST_BASE_URL is not set, so a mail's links cannot be built",
                               field="PAPERCAST_BASE_URL")
        return f"{self._base_url}/{path.lstrip('/')}"

    def render(self, name: str, context: Mapping[str, Any]) -> RenderedMail:
        """The three parts of template `name`; InvalidInput naming the template and part on any error."""
        if not _TEMPLATE_NAME.fullmatch(name):
            raise InvalidInput(f"{name!r} is not a mail template name", field="template")
        subject, text, html = (self._render_part(name, part, context) for part in TEMPLATE_PARTS)
        subject = require_clean_header("Subject", subject.strip())
        if not subject:
            raise InvalidInput(f"mail template {name}: the subject is empty", field="template")
        return RenderedMail(subject, text, html)

    def _render_part(self, name: str, part: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._environment.get_template(f"{name}/{part}")
            if part == "body.html":
                self._refuse_remote_resources(name)
            return template.render(context)
        except TemplateNotFound as error:
            raise InvalidInput(f"no mail template {name}/{part} (a template needs "
                               f"{', '.join(TEMPLATE_PARTS)})", field="template") from error
        except TemplateError as error:
            raise InvalidInput(f"mail template {name}/{part}: {error}", field="template") from error
        except InvalidInput as error:  # raised by `url()` inside the template
            raise InvalidInput(f"mail template {name}/{part}: {error.message}", field=error.field) from error

    def _refuse_remote_resources(self, name: str) -> None:
        """The HTML template's own source, and the sources it includes, may not load a remote
        resource. Checked once per template, on its source: what the context brings is escaped
        text that cannot make a tag or an attribute, so a paper titled `src=//x` is text, not an
        image to refuse."""
        if name in self._checked:
            return
        pending, seen = [f"{name}/body.html"], set()
        while pending:
            template = pending.pop()
            seen.add(template)
            source, _, _ = self._loader.get_source(self._environment, template)
            remote = _REMOTE_RESOURCE.search(source)
            if remote:
                raise InvalidInput(f"mail template {template} loads a remote resource "
                                   f"({remote.group().strip()!r}...): inline it or link to it",
                                   field="template")
            referenced = meta.find_referenced_templates(self._environment.parse(source))
            pending.extend(found for found in referenced if found is not None and found not in seen)
        self._checked.add(name)
