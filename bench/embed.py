"""Abstracts per second of the MiniLM encoder on a CPU, torch (before) against the int8 ONNX graph (after),
and of the CUDA path when present.

Texts are real arXiv titles and abstracts (`../shared/data/arxiv-abs-sample.jsonl`) in the form
papercast embeds them (`paper_text`), 256 tokens at most. Every CPU runtime embeds the same texts
in each round, the runtimes' order alternating from round to round, so a machine shared with other
jobs slows them alike; the report gives each runtime's median over the rounds, the ratio of the
medians and the median of the per-round ratios, the query latency, and how close the vectors are
to torch's (cosine). The CUDA run uses the fp16, length-bucketed path over a larger set (the sample
repeated). Prints one JSON object with the machine's description.

    python bench/embed.py --cpu-texts 256 --rounds 5 --runtimes torch,onnx --gpu-texts 50000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from papercast.embeddings.minilm import MAX_SEQ_LENGTH, MiniLmEmbedder
from papercast.embeddings.text import paper_text

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-abs-sample.jsonl"
QUERIES = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-texts", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runtimes", default="torch,onnx",
                        help="CPU runtimes to compare (PAPERCAST_EMBEDDING_RUNTIME values); the first "
                             "is the baseline")
    parser.add_argument("--graph-cache", type=Path, default=None,
                        help="Where ONNX graphs are built or found (default: a fresh temporary folder, "
                             "so the build time is measured)")
    parser.add_argument("--gpu-texts", type=int, default=50_000)
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()

    import torch

    texts = load_texts(SAMPLE)
    result: dict[str, Any] = {"benchmark": "embed", "max_seq_length": MAX_SEQ_LENGTH,
                              "machine": machine_info(torch), "sample": str(SAMPLE.name)}
    if not args.skip_cpu:
        with tempfile.TemporaryDirectory(prefix="papercast-bench-graphs-") as scratch:
            runtimes = [runtime.strip() for runtime in args.runtimes.split(",") if runtime.strip()]
            result["cpu"] = compare_cpu(runtimes, cycled(texts, args.cpu_texts), args.rounds,
                                        args.graph_cache or Path(scratch))
    if torch.cuda.is_available():
        result["cuda"] = run_cuda(MiniLmEmbedder(device="cuda"), cycled(texts, args.gpu_texts))
    result["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


def compare_cpu(runtimes: list[str], texts: list[str], rounds: int, graph_cache: Path) -> dict[str, Any]:
    encoders, load_seconds = load_encoders(runtimes, texts, graph_cache)
    queries = [text.split(". ", 1)[0] for text in texts[:QUERIES]]  # titles stand in for queries
    documents: dict[str, list[dict[str, float]]] = {runtime: [] for runtime in runtimes}
    query_ms: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
    vectors: dict[str, np.ndarray] = {}
    for round_number in range(rounds):
        # Alternating order: a neighbour's burst of work falls on each runtime in turn.
        for runtime in runtimes if round_number % 2 == 0 else list(reversed(runtimes)):
            rate, vectors[runtime] = embed_round(encoders[runtime], texts)
            documents[runtime].append(rate)
            query_ms[runtime].append(median_query_ms(encoders[runtime], queries))
    report: dict[str, Any] = {"texts": len(texts), "rounds": rounds,
                              "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
                              "baseline": runtimes[0], "runtimes": {}}
    for runtime in runtimes:
        report["runtimes"][runtime] = {
            "runtime": encoders[runtime].runtime, "load_seconds": load_seconds[runtime],
            **summarise(documents[runtime], documents[runtimes[0]]),
            "query_ms_median": round(statistics.median(query_ms[runtime]), 2),
            "cosine_to_baseline": cosine_summary(vectors[runtime], vectors[runtimes[0]]),
            "rounds": documents[runtime],
        }
    return report


def load_encoders(runtimes: list[str], texts: list[str],
                  graph_cache: Path) -> tuple[dict[str, MiniLmEmbedder], dict[str, float]]:
    """One encoder per runtime, each loaded (its graph built when not cached) and warmed up."""
    encoders, load_seconds = {}, {}
    for runtime in runtimes:
        started = time.perf_counter()
        encoders[runtime] = MiniLmEmbedder(device="cpu", runtime=runtime, cache_dir=graph_cache)
        encoders[runtime].wait_for_runtime()
        load_seconds[runtime] = round(time.perf_counter() - started, 1)
        encoders[runtime].embed_documents(texts[:32])  # warm-up: kernels, allocator
    return encoders, load_seconds


def summarise(rounds: list[dict[str, float]], baseline: list[dict[str, float]]) -> dict[str, float]:
    rates = [entry["abstracts_per_second"] for entry in rounds]
    base = [entry["abstracts_per_second"] for entry in baseline]
    return {
        "abstracts_per_second_median": round(statistics.median(rates), 1),
        "abstracts_per_cpu_second_median": round(statistics.median(
            entry["abstracts_per_cpu_second"] for entry in rounds), 2),
        "ratio_of_medians": round(statistics.median(rates) / statistics.median(base), 2),
        "median_round_ratio": round(statistics.median(r / b for r, b in zip(rates, base, strict=True)), 2),
    }


def cosine_summary(vectors: np.ndarray, baseline: np.ndarray) -> dict[str, float]:
    cosines = np.sum(vectors * baseline, axis=1)
    return {"min": round(float(cosines.min()), 4), "mean": round(float(cosines.mean()), 4)}


def embed_round(embedder: MiniLmEmbedder, texts: list[str]) -> tuple[dict[str, float], np.ndarray]:
    started, started_cpu = time.perf_counter(), time.process_time()
    vectors = embedder.embed_documents(texts)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    assert vectors.shape == (len(texts), embedder.dimension)
    # Per CPU-second of this process: comparable across runs on a machine shared with other jobs.
    return {"seconds": round(seconds, 3), "abstracts_per_second": round(len(texts) / seconds, 1),
            "abstracts_per_cpu_second": round(len(texts) / cpu_seconds, 2)}, vectors


def median_query_ms(embedder: MiniLmEmbedder, queries: list[str]) -> float:
    timings = []
    for query in queries:
        started = time.perf_counter()
        embedder.embed_query(query)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def run_cuda(embedder: MiniLmEmbedder, texts: list[str]) -> dict[str, Any]:
    embedder.embed_documents(texts[:32])  # warm-up: kernels, allocator, tokenizer threads
    rate, _ = embed_round(embedder, texts)
    return {"device": embedder.device, "batch_size": embedder.batch_size, "texts": len(texts), **rate}


def load_texts(path: Path) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(paper_text(record.get("title") or "", record.get("abstract") or ""))
    return texts


def cycled(texts: list[str], count: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(count)]


def machine_info(torch: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_model": cpu_model(),
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
