"""Building MiniLM's ONNX graphs (export from torch, fuse for BERT, for int8 quantize the weights)
in a short-lived child process that writes them into a `GraphCache`: building needs torch and up to
1.5 GB, none of which should stay in a serving process.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from papercast.embeddings.errors import EmbedderUnavailable
from papercast.embeddings.graph_cache import GraphCache, GraphKey

PRECISIONS = ("fp32", "int8")
# Bump when the recipe changes: every cached graph is then rebuilt.
RECIPE = 2
OPSET = 17
ATTENTION_HEADS = 12
HIDDEN_SIZE = 384
BUILD_TIMEOUT = 600
_FLOAT = 1  # onnx.TensorProto.FLOAT: the type of tensors whose type the quantizer cannot infer
_LIBRARIES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")


def graph_key(precision: str, model_sha256: str) -> GraphKey:
    """The cache key of `precision`'s graph for the model with weights `model_sha256`, here."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown graph precision {precision!r}")
    return GraphKey(precision, RECIPE, model_sha256, {name: _installed(name) for name in _LIBRARIES})


def build_graph(model: Any, precision: str) -> bytes:
    """The ONNX graph of the sentence-transformers `model` (transformer, mean pooling, L2
    normalisation), by the recipe of `../shared/docs/research/embeddings.md`: exported with eager
    attention (the default attention exports a graph the optimizer cannot fuse), fused by ONNX
    Runtime's transformer optimizer; for `int8`, then dynamic quantization with per-channel int8
    weights (per-tensor weights moved vectors to a cosine of 0.77 with torch's)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    with tempfile.TemporaryDirectory(prefix="papercast-graph-") as scratch:
        exported, fused, quantized = (Path(scratch) / name for name in ("export.onnx", "fused.onnx",
                                                                          "int8.onnx"))
        exported.write_bytes(export_graph(model))
        optimizer = optimize_model(str(exported), model_type="bert", num_heads=ATTENTION_HEADS,
                                   hidden_size=HIDDEN_SIZE, opt_level=None)
        optimizer.save_model_to_file(str(fused))
        if precision == "fp32":
            return fused.read_bytes()
        quantize_dynamic(str(fused), str(quantized), per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": _FLOAT})
        return quantized.read_bytes()


def export_graph(model: Any) -> bytes:
    """The model's transformer with mean pooling and normalisation, exported with eager attention."""
    import torch

    transformer = model[0].auto_model
    features = model.preprocess(["a probe sentence for the export", "short"])
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in features]
    arguments = tuple(features[name].cpu() for name in names)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    buffer = io.BytesIO()
    attention = transformer.config._attn_implementation  # noqa: SLF001 - restored after the export
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on traced control flow
        try:
            transformer.set_attn_implementation("eager")
            pooled = pooled_class()(transformer, names).eval()
            # torch annotates `f` as a path, but its TorchScript exporter writes to file objects too
            torch.onnx.export(pooled, arguments, buffer, input_names=names,  # type: ignore[arg-type]
                              output_names=["sentence_embedding"], dynamic_axes={**dynamic,
                              "sentence_embedding": {0: "batch"}}, opset_version=OPSET, dynamo=False)
        except Exception as error:  # noqa: BLE001 - any exporter failure: this runtime is unavailable
            raise EmbedderUnavailable(f"the model could not be exported to ONNX: {error}") from error
        finally:
            transformer.set_attn_implementation(attention)
    return buffer.getvalue()


def pooled_class() -> type:
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


def build_in_child(model_dir: Path, cache_dir: Path, precision: str, *, force: bool = False) -> None:
    """Build `precision`'s graph of the model in `model_dir` into the cache at `cache_dir`, in a
    short-lived child process (the ~1.5 GB that building takes never stays in this one)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EmbedderUnavailable(f"cannot create the ONNX graph folder {cache_dir}: {error}") from error
    command = [sys.executable, "-m", "papercast.embeddings.onnx_graph", precision, str(model_dir),
               str(cache_dir), *(["--force"] if force else [])]
    # Errors go to a file, not a pipe: a child outliving this process must not die writing them.
    with tempfile.TemporaryFile(prefix="papercast-graph-build-") as errors:
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=errors, timeout=BUILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as error:
            raise EmbedderUnavailable(f"building the {precision} ONNX graph took over {BUILD_TIMEOUT} s") \
                from error
        errors.seek(0)
        detail = errors.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    if done.returncode != 0:
        raise EmbedderUnavailable(f"building the {precision} ONNX graph failed: {detail[0]}")


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "absent"


def _main(argv: list[str]) -> int:
    """`python -m papercast.embeddings.onnx_graph PRECISION MODEL_DIR CACHE_DIR [--force]`."""
    from papercast.embeddings.minilm import (
        MAX_SEQ_LENGTH,
        PINNED_SHA256,
        load_sentence_transformer,
        verify_model_files,
    )

    precision, model_dir, cache_dir = argv[0], Path(argv[1]), Path(argv[2])
    key = graph_key(precision, PINNED_SHA256["model.safetensors"])

    def build() -> bytes:
        verify_model_files(model_dir)
        model = load_sentence_transformer(model_dir, "cpu")
        model.max_seq_length = MAX_SEQ_LENGTH
        return build_graph(model, precision)

    GraphCache(cache_dir).ensure(key, build, force="--force" in argv[3:])
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
