"""MiniLM on ONNX Runtime: a built graph (`onnx_graph.py`) loaded from its cache, used only once it
agrees with torch on probe texts; a cached graph that disagrees is rebuilt once, a fresh one refused.
On 2 cores the fp32 graph embeds abstracts about 2x as fast as torch, the int8 graph 4.5x (`bench/embed.py`).
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from papercast.embeddings.errors import EmbedderUnavailable
from papercast.embeddings.graph_cache import GraphCache, GraphKey

FP32_TOLERANCE = 1e-4
# Measured over 1,191 arXiv abstracts: cosine to torch 0.988-0.998, mean 0.994; a graph with one
# damaged weight matrix falls far below.
INT8_MIN_COSINE = 0.98
# Texts per ONNX Runtime call when embedding documents, sorted by length so batches pad little.
# Measured on 2 cores (256-token abstracts): 1-8 equally fast, 16 a fifth slower, 64 a third.
DOCUMENT_BATCH = 4
PROBE_TEXTS = (
    "graph neural networks",
    "  Attention Is All You Need. We propose the Transformer, a network architecture based solely "
    "on attention mechanisms, dispensing with recurrence and convolutions entirely.  ",
    "$\\frac{\\ell_1}{\\ell_2}$ regularisation of SL$^{2}$A-INR",
    "graph neural networks for molecule property prediction",  # batched with the line above, padded
    "x",
    "Dark matter halo density profiles. We measure the density profiles of dark matter halos in "
    "cosmological N-body simulations of galaxy clusters and compare them with weak lensing data "
    "from two surveys, finding an inner slope shallower than the NFW profile predicts.",
    " ".join(["attention"] * 400),  # longer than the model's window: truncated by both paths
)

# Builds `precision`'s graph of the model in `model_dir` into the cache at `cache_dir` (`force`:
# even when a verified one is there). `onnx_graph.build_in_child` in production.
GraphBuilder = Callable[..., None]

log = logging.getLogger("papercast.embeddings")


class GraphRejected(EmbedderUnavailable):
    """A graph that ONNX Runtime cannot load or whose vectors disagree with torch's."""


def onnx_runtime_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


class OnnxSentenceEncoder:
    """Normalised mean-pooled sentence vectors of a sentence-transformers BERT model, on ONNX Runtime.

    Checked at load against the torch model on `PROBE_TEXTS` (short, long, truncated; alone and in
    padded batches): the fp32 graph within `FP32_TOLERANCE` per component, the int8 graph, whose
    vectors move a little, by a cosine of at least `INT8_MIN_COSINE` for every probe.
    """

    def __init__(self, model: Any, graph: Path, precision: str, *, threads: int = 0) -> None:
        """`model` is the torch sentence-transformers model: its tokenization is reused, and its
        vectors are what the graph's must agree with."""
        import onnxruntime

        self._model = model
        self.precision = precision
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads must not spin: web workers share a few cores with everything else.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(str(graph), options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - ONNX Runtime raises its own types for a bad file
            raise GraphRejected(f"ONNX Runtime cannot load {graph.name}: {error}") from error
        self._inputs = [item.name for item in self._session.get_inputs()]
        self._check()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of `texts`, in order, as one padded batch (queries come one at a time)."""
        features = self._model.preprocess(list(texts))  # the model's tokenisation: strip, truncate, pad
        feed = {name: features[name].cpu().numpy().astype(np.int64) for name in self._inputs}
        output: np.ndarray = self._session.run(None, feed)[0]
        return np.ascontiguousarray(output, dtype=np.float32)

    def encode_documents(self, texts: Sequence[str], batch_size: int = DOCUMENT_BATCH) -> np.ndarray:
        """Vectors of many texts, in order, computed in batches of texts of similar length."""
        order = [int(row) for row in np.argsort([-len(text) for text in texts], kind="stable")]
        batches = similar_length_batches([len(texts[row]) for row in order], batch_size)
        vectors = np.concatenate([self.encode([texts[order[i]] for i in batch]) for batch in batches])
        in_order = np.empty_like(vectors)
        in_order[order] = vectors
        return in_order

    def _check(self) -> None:
        """Refuse the graph unless it gives the torch model's vectors, alone and batched."""
        import torch

        with torch.inference_mode():
            expected = np.asarray(self._model.encode(list(PROBE_TEXTS), batch_size=len(PROBE_TEXTS),
                                                     normalize_embeddings=True, convert_to_numpy=True,
                                                     show_progress_bar=False), dtype=np.float32)
        alone = np.stack([self.encode([text])[0] for text in PROBE_TEXTS])
        actual = (self.encode_documents(PROBE_TEXTS), alone)
        problem = disagreement(expected, actual, self.precision)
        if problem is not None:
            raise GraphRejected(f"the {self.precision} ONNX graph of the model {problem}")


def similar_length_batches(lengths: Sequence[int], batch_size: int) -> list[range]:
    """Positions of `lengths` (longest first) cut into batches of at most `batch_size`, where no
    text is under half as long as its batch's first. An int8 graph quantizes each activation
    tensor with one scale, so a short text batched with long ones would be quantized coarsely."""
    batches: list[range] = []
    start = 0
    for position, length in enumerate(lengths):
        if position - start == batch_size or length * 2 < lengths[start]:
            batches.append(range(start, position))
            start = position
    if lengths:
        batches.append(range(start, len(lengths)))
    return batches


def disagreement(expected: np.ndarray, actual: Sequence[np.ndarray], precision: str) -> str | None:
    """How the vectors in `actual` fail to agree with `expected` for a graph of `precision`, or None."""
    if any(vectors.shape != expected.shape for vectors in actual):
        return f"gives vectors of shape {[v.shape for v in actual]}, torch {expected.shape}"
    if precision == "fp32":
        worst = max(float(np.abs(vectors - expected).max()) for vectors in actual)
        return None if worst <= FP32_TOLERANCE else \
            f"differs from torch by {worst:.2e} (more than {FP32_TOLERANCE:g})"
    lowest = min(float(np.min(np.sum(vectors * expected, axis=1))) for vectors in actual)
    return None if lowest >= INT8_MIN_COSINE else \
        f"has cosine {lowest:.4f} to torch's vectors (less than {INT8_MIN_COSINE:g})"


def load_checked_encoder(model: Any, model_dir: Path, key: GraphKey, cache_dir: Path | None,
                         build: GraphBuilder) -> OnnxSentenceEncoder:
    """The encoder of `key`'s graph from the cache at `cache_dir`, built there first when missing or
    damaged. A cached graph that disagrees with torch is rebuilt once; a fresh one is refused.
    Without `cache_dir` the graph is built into a temporary directory and forgotten."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="papercast-onnx-") as scratch:
            return load_checked_encoder(model, model_dir, key, Path(scratch), build)
    cache = GraphCache(cache_dir)
    graph = cache.verified(key)
    if graph is None:
        log.info("embeddings.onnx_graph_build precision=%s cache=%s", key.precision, cache_dir)
        return OnnxSentenceEncoder(model, _built(cache, key, model_dir, build, force=False), key.precision)
    try:
        return OnnxSentenceEncoder(model, graph, key.precision)
    except GraphRejected as error:
        log.warning("embeddings.onnx_graph_rejected graph=%s reason=%s; rebuilding it", graph, error)
    return OnnxSentenceEncoder(model, _built(cache, key, model_dir, build, force=True), key.precision)


def _built(cache: GraphCache, key: GraphKey, model_dir: Path, build: GraphBuilder, *, force: bool) -> Path:
    build(model_dir, cache.directory, key.precision, force=force)
    graph = cache.verified(key)
    if graph is None:
        raise EmbedderUnavailable(f"the {key.precision} ONNX graph built into {cache.directory} "
                                  "did not verify against its manifest")
    return graph


class GraphLoader:
    """Brings up the encoder of `key`'s graph: at once when the graph is cached (or when it is
    `required`, failing loudly), else in a background thread, so a first build never holds up
    the process that asked; `current()` is None until it is ready, and if it failed."""

    def __init__(self, model: Any, model_dir: Path, key: GraphKey, cache_dir: Path | None,
                 build: GraphBuilder, *, required: bool) -> None:
        self._arguments = (model, model_dir, key, cache_dir, build)
        self._precision = key.precision
        self._encoder: OnnxSentenceEncoder | None = None
        self._finished = threading.Event()
        if required:
            self._encoder = self._loaded()
            self._finished.set()
        elif cache_dir is not None and GraphCache(cache_dir).verified(key) is not None:
            self._load_or_log()
        else:
            log.info("embeddings.onnx_graph_pending precision=%s; torch encodes queries until it is built",
                     key.precision)
            threading.Thread(target=self._load_or_log, name="papercast-onnx-graph", daemon=True).start()

    def current(self) -> OnnxSentenceEncoder | None:
        """The encoder if it is ready now; never waits."""
        return self._encoder

    def wait(self, timeout: float | None = None) -> OnnxSentenceEncoder | None:
        """The encoder once loading has finished (None if it failed or `timeout` passed)."""
        self._finished.wait(timeout)
        return self._encoder

    def _loaded(self) -> OnnxSentenceEncoder:
        started = time.perf_counter()
        encoder = load_checked_encoder(*self._arguments)
        log.info("embeddings.onnx_ready precision=%s seconds=%.1f", self._precision,
                 time.perf_counter() - started)
        return encoder

    def _load_or_log(self) -> None:
        try:
            self._encoder = self._loaded()
        except EmbedderUnavailable as error:
            log.warning("embeddings.onnx_unavailable precision=%s using=torch reason=%s",
                        self._precision, error)
        except Exception:  # noqa: BLE001 - this runs in its own thread: whatever fails, torch carries on
            log.exception("embeddings.onnx_failed precision=%s using=torch", self._precision)
        finally:
            self._finished.set()
