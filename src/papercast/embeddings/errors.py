"""Errors of the embedding encoders, reported to users as messages (they are `PapercastError`s)."""

from __future__ import annotations

from papercast.domain.errors import PapercastError


class EmbedderUnavailable(PapercastError):
    """The chosen encoder cannot run here: a package is missing or there is nothing to fit it on."""


class ModelIntegrityError(PapercastError):
    """A model file does not have the pinned checksum; it is never loaded."""
