"""Loading a built ONNX graph: checked against the torch model, rebuilt when cached wrong, refused when
built wrong, and built in the background when not required. A toy model stands in for MiniLM."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from papercast.embeddings.graph_cache import GraphCache, GraphKey  # noqa: E402
from papercast.embeddings.onnx_runtime import (  # noqa: E402
    FP32_TOLERANCE,
    INT8_MIN_COSINE,
    GraphLoader,
    GraphRejected,
    disagreement,
    load_checked_encoder,
    similar_length_batches,
)

VOCABULARY, DIMENSION = 128, 8
TABLE = np.random.default_rng(7).normal(size=(VOCABULARY, DIMENSION)).astype(np.float32)
KEY = GraphKey("fp32", 1, "a" * 64, {"onnxruntime": "test"})


class ToyModel:
    """Mean of one embedding row per character, normalised: what `mean_pool_graph(TABLE)` computes."""

    def preprocess(self, texts: Sequence[str]) -> dict[str, Any]:
        ids = [[ord(char) % VOCABULARY for char in text.strip()[:40]] or [0] for text in texts]
        width = max(len(row) for row in ids)
        return {"input_ids": torch.tensor([row + [0] * (width - len(row)) for row in ids]),
                "attention_mask": torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids])}

    def encode(self, texts: Sequence[str], **options: Any) -> np.ndarray:
        features = self.preprocess(texts)
        ids, mask = features["input_ids"].numpy(), features["attention_mask"].numpy()[..., None]
        mean = (TABLE[ids] * mask).sum(axis=1) / mask.sum(axis=1)
        return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def mean_pool_graph(table: np.ndarray) -> bytes:
    """An ONNX graph of masked mean pooling over `table`'s rows, then L2 normalisation."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["rows"]),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "last"], ["mask3"]),
        helper.make_node("Mul", ["rows", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "tokens"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "tokens"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["mean"]),
        helper.make_node("LpNormalization", ["mean"], ["sentence_embedding"], axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes, "toy",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", DIMENSION])],
        [numpy_helper.from_array(table.astype(np.float32), "table"),
         numpy_helper.from_array(np.array([-1], dtype=np.int64), "last"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "tokens")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


GOOD = mean_pool_graph(TABLE)
WRONG = mean_pool_graph(TABLE[::-1].copy())  # another model's weights


class Builder:
    """Stands in for the build child: writes `graph` into the cache, counting calls."""

    def __init__(self, graph: bytes, release: threading.Event | None = None) -> None:
        self.graph, self.release, self.calls = graph, release, []

    def __call__(self, model_dir: Path, cache_dir: Path, precision: str, *, force: bool) -> None:
        if self.release is not None:
            self.release.wait(timeout=30)  # bounded: a loader that builds in the caller's thread fails
        self.calls.append(force)
        GraphCache(cache_dir).ensure(KEY, lambda: self.graph, force=force)


def test_a_cached_graph_that_agrees_with_torch_is_used_without_building(tmp_path: Path) -> None:
    GraphCache(tmp_path).store(KEY, GOOD)
    build = Builder(GOOD)
    encoder = load_checked_encoder(ToyModel(), tmp_path, KEY, tmp_path, build)
    texts = ["graph neural networks", "x", "  padded  "]
    np.testing.assert_allclose(encoder.encode(texts), ToyModel().encode(texts), atol=1e-6)
    np.testing.assert_allclose(encoder.encode_documents(texts), ToyModel().encode(texts), atol=1e-6)
    assert build.calls == []


def test_a_missing_graph_is_built_into_the_cache(tmp_path: Path) -> None:
    build = Builder(GOOD)
    load_checked_encoder(ToyModel(), tmp_path, KEY, tmp_path / "cache", build)
    assert build.calls == [False] and GraphCache(tmp_path / "cache").verified(KEY) is not None


def test_a_cached_graph_that_disagrees_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    GraphCache(tmp_path).store(KEY, WRONG)  # a manifest that vouches for the bytes: only torch can tell
    build = Builder(GOOD)
    encoder = load_checked_encoder(ToyModel(), tmp_path, KEY, tmp_path, build)
    assert build.calls == [True] and GraphCache(tmp_path).graph_path(KEY).read_bytes() == GOOD
    assert encoder.encode(["x"]).shape == (1, DIMENSION)
    assert "embeddings.onnx_graph_rejected" in caplog.text


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_graph_built_wrong_is_refused(tmp_path: Path, precision: str) -> None:
    key = GraphKey(precision, KEY.recipe, KEY.model_sha256, KEY.versions)

    def build(model_dir: Path, cache_dir: Path, precision: str, *, force: bool) -> None:
        GraphCache(cache_dir).ensure(key, lambda: WRONG, force=force)

    with pytest.raises(GraphRejected, match="differs from torch" if precision == "fp32" else "cosine"):
        load_checked_encoder(ToyModel(), tmp_path, key, tmp_path, build)


def test_a_graph_onnx_runtime_cannot_load_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GraphRejected, match="cannot load"):
        load_checked_encoder(ToyModel(), tmp_path, KEY, tmp_path, Builder(b"not an onnx graph"))


def test_without_a_cache_directory_the_graph_is_built_and_forgotten(tmp_path: Path) -> None:
    build = Builder(GOOD)
    load_checked_encoder(ToyModel(), tmp_path, KEY, None, build)
    assert build.calls == [False]


def test_a_graph_being_built_leaves_the_caller_free_until_it_is_ready(tmp_path: Path) -> None:
    release = threading.Event()
    loader = GraphLoader(ToyModel(), tmp_path, KEY, tmp_path, Builder(GOOD, release), required=False)
    assert loader.current() is None  # the build is held: whoever asks goes on with torch
    release.set()
    assert loader.wait() is not None and loader.current() is not None


def test_a_cached_graph_is_ready_at_once(tmp_path: Path) -> None:
    GraphCache(tmp_path).store(KEY, GOOD)
    loader = GraphLoader(ToyModel(), tmp_path, KEY, tmp_path, Builder(GOOD), required=False)
    assert loader.current() is not None


def test_a_failed_background_build_leaves_torch_in_charge(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="papercast.embeddings"):
        loader = GraphLoader(ToyModel(), tmp_path, KEY, tmp_path, Builder(WRONG), required=False)
        assert loader.wait() is None and loader.current() is None
    assert "embeddings.onnx_unavailable" in caplog.text and "using=torch" in caplog.text


def test_a_required_graph_that_fails_raises_at_once(tmp_path: Path) -> None:
    with pytest.raises(GraphRejected):
        GraphLoader(ToyModel(), tmp_path, KEY, tmp_path, Builder(WRONG), required=True)


def test_disagreement_measures_fp32_by_component_and_int8_by_cosine() -> None:
    expected = np.eye(3, dtype=np.float32)
    assert disagreement(expected, [expected + FP32_TOLERANCE / 2], "fp32") is None
    assert "differs from torch" in str(disagreement(expected, [expected + FP32_TOLERANCE * 2], "fp32"))
    tilted = expected.copy()
    tilted[0] = [INT8_MIN_COSINE - 0.01, np.sqrt(1 - (INT8_MIN_COSINE - 0.01) ** 2), 0]
    assert disagreement(expected, [expected, tilted], "int8") is not None
    tilted[0] = [INT8_MIN_COSINE + 0.005, np.sqrt(1 - (INT8_MIN_COSINE + 0.005) ** 2), 0]
    assert disagreement(expected, [tilted], "int8") is None
    assert "shape" in str(disagreement(expected, [expected[:2]], "int8"))


@pytest.mark.parametrize("lengths", [[], [5], [100, 90, 60, 51, 50, 49, 10, 5, 5, 4, 1], [40] * 37])
def test_similar_length_batches_cover_everything_in_order_and_keep_lengths_together(
        lengths: list[int]) -> None:
    batches = similar_length_batches(lengths, batch_size=4)
    assert [i for batch in batches for i in batch] == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= 4
        assert all(lengths[i] * 2 >= lengths[batch[0]] for i in batch)
    if lengths == [40] * 37:
        assert len(batches) == 10
