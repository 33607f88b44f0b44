"""A TF-IDF + truncated-SVD encoder fitted on the catalog itself: needs no model file.

Latent semantic analysis: sublinear TF-IDF of word 1-2 grams (English stop words removed),
projected onto up to 256 SVD components and L2-normalised. Saved as JSON + `.npz` (never
pickle), and `model_id` carries a hash of the fitted state, so a refit triggers a re-embed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from papercast.embeddings.errors import EmbedderUnavailable

MAX_COMPONENTS = 256
MAX_FEATURES = 200_000
STATE_FORMAT = 1
_VOCABULARY_FILE = "vocabulary.json"
_ARRAYS_FILE = "tfidf-svd.npz"
_META_FILE = "meta.json"


class TfidfSvdEmbedder:
    """Latent semantic vectors; build with `fit(texts)` or `load(directory)`."""

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, components: np.ndarray) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if len(vocabulary) != idf.shape[0] or components.shape[1] != idf.shape[0]:
            raise ValueError("TF-IDF state is inconsistent: vocabulary, idf and components differ in size")
        self._vocabulary = list(vocabulary)
        self._idf = np.asarray(idf, dtype=np.float64)
        self._components = np.ascontiguousarray(components, dtype=np.float32)
        self._vectorizer = TfidfVectorizer(**_vectorizer_options(),
                                           vocabulary={term: i for i, term in enumerate(self._vocabulary)})
        self._vectorizer.idf_ = self._idf
        self.dimension = int(self._components.shape[0])
        self.model_id = f"tfidf-svd-{self.dimension}@{self.state_hash()[:8]}"

    @classmethod
    def fit(cls, texts: Iterable[str], max_components: int = MAX_COMPONENTS) -> TfidfSvdEmbedder:
        """Fit on `texts`; a small corpus gets fewer components (at most one less than its size)."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        corpus = [text for text in texts if text.strip()]
        if len(corpus) < 3:
            raise EmbedderUnavailable("the TF-IDF encoder needs at least 3 papers to fit; ingest some first")
        vectorizer = TfidfVectorizer(**_vectorizer_options(), max_features=MAX_FEATURES,
                                     min_df=2 if len(corpus) >= 1000 else 1)
        try:
            tfidf = vectorizer.fit_transform(corpus)
        except ValueError as error:  # sklearn's "empty vocabulary": only stop words in the corpus
            raise EmbedderUnavailable(f"cannot fit the TF-IDF encoder: {error}") from error
        components = min(max_components, tfidf.shape[0] - 1, tfidf.shape[1] - 1)
        if components < 1:
            raise EmbedderUnavailable("the corpus is too small to fit the TF-IDF encoder")
        svd = TruncatedSVD(n_components=components, algorithm="randomized", random_state=0)
        svd.fit(tfidf)
        vocabulary = [term for term, _ in sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])]
        return cls(vocabulary, vectorizer.idf_, svd.components_)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        projected = np.asarray(self._vectorizer.transform(list(texts)) @ self._components.T, dtype=np.float32)
        norms = np.linalg.norm(projected, axis=1, keepdims=True)
        normalised: np.ndarray = np.divide(projected, norms, out=np.zeros_like(projected), where=norms > 0)
        return normalised

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_documents([text])[0]
        return vector

    def state_hash(self) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps(self._vocabulary, ensure_ascii=False).encode("utf-8"))
        digest.update(self._idf.astype("<f8").tobytes())
        digest.update(self._components.astype("<f4").tobytes())
        return digest.hexdigest()

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / _ARRAYS_FILE, idf=self._idf.astype("<f8"),
                 components=self._components.astype("<f4"))
        (directory / _VOCABULARY_FILE).write_text(json.dumps(self._vocabulary, ensure_ascii=False),
                                                  encoding="utf-8")
        # Written last: a directory without meta.json is an interrupted save and is not loaded.
        meta = {"format": STATE_FORMAT, "model_id": self.model_id, "state_hash": self.state_hash()}
        (directory / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> TfidfSvdEmbedder:
        meta = json.loads((directory / _META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != STATE_FORMAT:
            raise EmbedderUnavailable(f"{directory}: unknown TF-IDF state format {meta.get('format')!r}")
        vocabulary = json.loads((directory / _VOCABULARY_FILE).read_text(encoding="utf-8"))
        with np.load(directory / _ARRAYS_FILE, allow_pickle=False) as arrays:
            embedder = cls(vocabulary, arrays["idf"], arrays["components"])
        if embedder.state_hash() != meta.get("state_hash"):
            raise EmbedderUnavailable(f"{directory}: TF-IDF state does not match its recorded hash")
        return embedder

    @staticmethod
    def is_saved(directory: Path) -> bool:
        return (directory / _META_FILE).is_file()

    @staticmethod
    def saved_model_id(directory: Path) -> str | None:
        """The model id of the state saved in `directory`, read without loading it."""
        if not TfidfSvdEmbedder.is_saved(directory):
            return None
        model_id = json.loads((directory / _META_FILE).read_text(encoding="utf-8")).get("model_id")
        return str(model_id) if model_id else None


def _vectorizer_options() -> dict[str, object]:
    return {"sublinear_tf": True, "ngram_range": (1, 2), "stop_words": "english", "dtype": np.float32}
