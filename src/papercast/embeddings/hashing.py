"""A deterministic feature-hashing encoder: no model, no fitting; for tests and as the last resort.

Word unigrams and bigrams are hashed (blake2b, so the same in every process) into signed buckets
with sublinear term weights, then L2-normalised. Similar wording gives similar vectors; meaning
does not. An empty text gives the zero vector.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
HASHING_VERSION = 1


class HashingEmbedder:
    """Feature hashing of lowercased word unigrams and bigrams into `dimension` signed buckets."""

    def __init__(self, dimension: int = 256) -> None:
        if dimension < 8:
            raise ValueError("a hashing embedder needs at least 8 dimensions")
        self.dimension = dimension
        self.model_id = f"hashing-{dimension}@v{HASHING_VERSION}"

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            matrix[row] = self._vector(text)
        return matrix

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        words = _WORD.findall(text.lower())
        features = Counter(words)
        features.update(f"{first} {second}" for first, second in zip(words, words[1:], strict=False))
        for feature, count in features.items():
            bucket, sign = self._bucket(feature)
            vector[bucket] += sign * (1.0 + math.log(count))
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
        return (digest >> 1) % self.dimension, 1.0 if digest & 1 else -1.0
