"""The model-free encoders (hashing, TF-IDF + SVD), the paper text, and the encoder factory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from papercast.domain.errors import InvalidInput
from papercast.embeddings.errors import EmbedderUnavailable
from papercast.embeddings.factory import (
    configured_model_id,
    embedder_available,
    load_embedder,
    load_or_fit_tfidf,
)
from papercast.embeddings.fallback import TfidfSvdEmbedder
from papercast.embeddings.hashing import HashingEmbedder
from papercast.embeddings.text import paper_text, text_hash
from papercast.settings import Settings

CORPUS = [
    "Graph neural networks for molecule property prediction with message passing",
    "Message passing neural networks predict molecular properties of graphs",
    "Dark matter halos in cosmological simulations of galaxy formation",
    "Galaxy formation and dark matter halo density profiles in simulations",
    "Transformers with attention for machine translation between languages",
    "Attention based transformer models translate natural language text",
    "Protein folding predicted by deep learning from amino acid sequences",
    "Deep learning predicts the folded structure of proteins from sequence",
]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_paper_text_joins_title_and_abstract_once() -> None:
    assert paper_text("Attention Is All You Need", "We propose  the\nTransformer.") == (
        "Attention Is All You Need. We propose the Transformer.")
    assert paper_text("A title ending in a period.", "Body.") == "A title ending in a period. Body."
    assert paper_text("Only a title", "") == "Only a title"
    assert text_hash("a") != text_hash("b")


def test_hashing_embedder_is_deterministic_normalised_and_lexical() -> None:
    embedder = HashingEmbedder(256)
    vectors = embedder.embed_documents(CORPUS)
    assert vectors.shape == (len(CORPUS), 256) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors, HashingEmbedder(256).embed_documents(CORPUS))
    np.testing.assert_array_equal(embedder.embed_query(CORPUS[0]), vectors[0])
    query = embedder.embed_query("message passing neural networks for molecules")
    assert _cosine(query, vectors[0]) > _cosine(query, vectors[2])
    assert not embedder.embed_query("").any()
    assert embedder.model_id == "hashing-256@v1"


def test_tfidf_embedder_groups_topics_and_survives_save_and_load(tmp_path: Path) -> None:
    embedder = TfidfSvdEmbedder.fit(CORPUS)
    assert 1 <= embedder.dimension <= len(CORPUS) - 1
    vectors = embedder.embed_documents(CORPUS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    query = embedder.embed_query("dark matter in galaxy simulations")
    scores = vectors @ query
    assert set(np.argsort(-scores)[:2]) == {2, 3}
    embedder.save(tmp_path / "tfidf")
    loaded = TfidfSvdEmbedder.load(tmp_path / "tfidf")
    assert loaded.model_id == embedder.model_id and embedder.model_id.startswith("tfidf-svd-")
    np.testing.assert_allclose(loaded.embed_documents(CORPUS), vectors, atol=1e-6)


def test_tfidf_model_id_follows_the_fitted_state() -> None:
    assert TfidfSvdEmbedder.fit(CORPUS).model_id == TfidfSvdEmbedder.fit(CORPUS).model_id
    assert TfidfSvdEmbedder.fit(CORPUS).model_id != TfidfSvdEmbedder.fit(CORPUS[:6]).model_id


def test_tampered_tfidf_state_is_refused(tmp_path: Path) -> None:
    TfidfSvdEmbedder.fit(CORPUS).save(tmp_path)
    vocabulary = tmp_path / "vocabulary.json"
    vocabulary.write_text(vocabulary.read_text().replace("galaxy", "galaxi"))
    with pytest.raises(EmbedderUnavailable, match="does not match"):
        TfidfSvdEmbedder.load(tmp_path)


def test_tfidf_needs_a_corpus() -> None:
    with pytest.raises(EmbedderUnavailable, match="ingest"):
        TfidfSvdEmbedder.fit(["only one text"])


def test_factory_fits_tfidf_once_and_reuses_the_saved_state(tmp_path: Path) -> None:
    calls: list[int] = []

    def corpus() -> list[str]:
        calls.append(1)
        return CORPUS

    first = load_or_fit_tfidf(tmp_path / "tfidf", corpus)
    second = load_or_fit_tfidf(tmp_path / "tfidf", corpus)
    assert first.model_id == second.model_id
    assert calls == [1]


def test_factory_picks_the_encoder_the_settings_name(tmp_path: Path) -> None:
    hashing = load_embedder(Settings.load(env={}, data_dir=tmp_path, embedding_model="hashing"), lambda: [])
    assert hashing.model_id.startswith("hashing-")
    tfidf = load_embedder(Settings.load(env={}, data_dir=tmp_path, embedding_model="tfidf"), lambda: CORPUS)
    assert tfidf.model_id.startswith("tfidf-svd-")
    assert (tmp_path / "embeddings" / "tfidf" / "meta.json").is_file()
    # An unknown encoder is refused when the settings are read, before anything loads.
    with pytest.raises(InvalidInput, match="embedding_model must be one of minilm, tfidf, hashing"):
        Settings.load(env={}, data_dir=tmp_path, embedding_model="word2vec")


def test_factory_falls_back_to_tfidf_when_minilm_is_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import papercast.embeddings.minilm as minilm

    monkeypatch.setattr(minilm, "MODEL_PACKAGE", "papercast_no_such_model_package")
    assert not embedder_available("minilm")
    embedder = load_embedder(Settings.load(env={}, data_dir=tmp_path), lambda: CORPUS)
    assert embedder.model_id.startswith("tfidf-svd-")
    assert "embeddings.fallback" in caplog.text


def test_the_configured_model_id_is_known_without_loading_a_model(tmp_path: Path) -> None:
    def settings(model: str) -> Settings:
        return Settings.load(env={}, data_dir=tmp_path, embedding_model=model)

    assert configured_model_id(settings("hashing")) == load_embedder(settings("hashing"), lambda: []).model_id
    assert configured_model_id(settings("tfidf")) is None  # not fitted yet
    fitted = load_embedder(settings("tfidf"), lambda: CORPUS)
    assert configured_model_id(settings("tfidf")) == fitted.model_id
    if embedder_available("minilm"):
        assert configured_model_id(settings("minilm")) == "all-MiniLM-L6-v2@53aa5117"
