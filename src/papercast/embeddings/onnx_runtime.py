"""MiniLM on ONNX Runtime: the verified model exported to an ONNX graph at load, checked against torch.

On a CPU, ONNX Runtime runs all-MiniLM-L6-v2 two to three times faster than eager PyTorch for
one short query (measured on 2 cores: 5-7 ms against 14-18 ms for a search query), which was
most of a hybrid search's time; for batches of long abstracts it is no faster, so only queries
use it. Nothing is downloaded or cached: a short-lived child process loads the model files
(after checking their sha256 digests) and exports the graph (transformer, masked mean pooling,
L2 normalisation) to a temporary file that ONNX Runtime reads; in the serving process the
tracing would leave ~250 MB behind. Before the graph is used, its vectors for a set of probe
texts (short, long and truncated, alone and in a padded batch) must match the torch model's
`encode` within `TOLERANCE`; a graph that does not is refused (`EmbedderUnavailable`).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from papercast.embeddings.errors import EmbedderUnavailable

TOLERANCE = 1e-4
EXPORT_TIMEOUT = 300
OPSET = 17
PROBE_TEXTS = (
    "graph neural networks",
    "  Attention Is All You Need. We propose the Transformer, a network architecture based solely "
    "on attention mechanisms, dispensing with recurrence and convolutions entirely.  ",
    "$\\frac{\\ell_1}{\\ell_2}$ regularisation of SL$^{2}$A-INR",
    "x",
    " ".join(["attention"] * 400),  # longer than the model's window: truncated by both paths
)

log = logging.getLogger("papercast.embeddings")


def onnx_runtime_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


class OnnxSentenceEncoder:
    """Normalised mean-pooled sentence vectors of a sentence-transformers BERT model, on ONNX Runtime."""

    def __init__(self, model: Any, *, model_dir: Path | None = None, threads: int = 0) -> None:
        """`model_dir` (the verified model's files): export in a child process, which keeps the
        ~250 MB that tracing leaves behind out of this one; without it, export here."""
        if not onnx_runtime_installed():
            raise EmbedderUnavailable("onnxruntime and onnx are not installed")
        import onnxruntime

        self._model = model  # the sentence-transformers model: its tokenizer settings are reused
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads must not spin: web workers share a few cores with everything else.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if model_dir is None:
            self._session = onnxruntime.InferenceSession(_export(model), options, providers=providers)
        else:
            with tempfile.TemporaryDirectory(prefix="papercast-onnx-") as scratch:
                graph = Path(scratch) / "model.onnx"
                export_in_child(model_dir, graph)
                self._session = onnxruntime.InferenceSession(str(graph), options, providers=providers)
        self._inputs = [item.name for item in self._session.get_inputs()]
        self._check()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts`, in order, as one padded batch (queries come one at a time)."""
        features = self._model.preprocess(texts)  # the model's own tokenisation: strip, truncate, pad
        feed = {name: features[name].cpu().numpy().astype(np.int64) for name in self._inputs}
        output: np.ndarray = self._session.run(None, feed)[0]
        return np.ascontiguousarray(output, dtype=np.float32)

    def _check(self) -> None:
        """Refuse the graph unless it gives the torch model's vectors, alone and batched."""
        import torch

        with torch.inference_mode():
            expected = np.asarray(self._model.encode(list(PROBE_TEXTS), batch_size=len(PROBE_TEXTS),
                                                     normalize_embeddings=True, convert_to_numpy=True,
                                                     show_progress_bar=False), dtype=np.float32)
        batched = self.encode(list(PROBE_TEXTS))
        alone = np.stack([self.encode([text])[0] for text in PROBE_TEXTS])
        worst = float(max(np.abs(batched - expected).max(), np.abs(alone - expected).max()))
        if not worst <= TOLERANCE:
            raise EmbedderUnavailable(
                f"the ONNX export of the model differs from torch by {worst:.2e} (more than {TOLERANCE:g}); "
                "set PAPERCAST_EMBEDDING_RUNTIME=torch")


def _export(model: Any) -> bytes:
    """The model's transformer with mean pooling and normalisation, as ONNX bytes."""
    import torch

    transformer = model[0].auto_model
    features = model.preprocess(["a probe sentence for the export", "short"])
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in features]
    arguments = tuple(features[name].cpu() for name in names)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on traced control flow
        try:
            pooled = _pooled_class()(transformer, names).eval()
            # torch annotates `f` as a path, but its TorchScript exporter writes to file objects too
            torch.onnx.export(pooled, arguments, buffer, input_names=names,  # type: ignore[arg-type]
                              output_names=["sentence_embedding"], dynamic_axes={**dynamic,
                              "sentence_embedding": {0: "batch"}}, opset_version=OPSET, dynamo=False)
        except Exception as error:  # noqa: BLE001 - any exporter failure: this runtime is unavailable
            raise EmbedderUnavailable(f"the model could not be exported to ONNX: {error}") from error
    return buffer.getvalue()


def _pooled_class() -> type:
    import torch

    class Pooled(torch.nn.Module):
        """transformer -> mean over real tokens -> unit length, as sentence-transformers does it."""

        def __init__(self, transformer: Any, names: list[str]) -> None:
            super().__init__()
            self.transformer = transformer
            self.names = names

        def forward(self, *tensors: Any) -> Any:
            inputs = dict(zip(self.names, tensors, strict=True))
            hidden = self.transformer(**inputs).last_hidden_state
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled



def export_in_child(model_dir: Path, graph: Path) -> None:
    """Write the ONNX graph of the model in `model_dir` to `graph`, from a short-lived child process."""
    done = subprocess.run([sys.executable, "-m", "papercast.embeddings.onnx_runtime", str(model_dir),
                           str(graph)], capture_output=True, timeout=EXPORT_TIMEOUT, check=False)
    if done.returncode != 0 or not graph.is_file():
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise EmbedderUnavailable(f"the ONNX export process failed: {detail[0]}")


def _main(argv: list[str]) -> int:
    """`python -m papercast.embeddings.onnx_runtime MODEL_DIR GRAPH`: export the verified model."""
    from papercast.embeddings.minilm import _load_sentence_transformer, verify_model_files

    model_dir, graph = Path(argv[0]), Path(argv[1])
    verify_model_files(model_dir)
    graph.write_bytes(_export(_load_sentence_transformer(model_dir, "cpu")))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
