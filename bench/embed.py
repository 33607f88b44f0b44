"""Abstracts per second of the MiniLM encoder: CPU at 256 tokens, and the CUDA path when present.

Texts are real arXiv titles and abstracts (`../shared/data/arxiv-abs-sample.jsonl`) in the form
papercast embeds them (`paper_text`). The CPU run uses sentence-transformers' own batching; the
CUDA run uses the fp16, length-bucketed, thread-tokenized path over a larger set (the sample
repeated). Prints one JSON object with the machine's description.

    python bench/embed.py --cpu-texts 500 --gpu-texts 50000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from papercast.embeddings.minilm import MAX_SEQ_LENGTH, MiniLmEmbedder
from papercast.embeddings.text import paper_text

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-abs-sample.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-texts", type=int, default=500)
    parser.add_argument("--gpu-texts", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=64, help="CPU batch size")
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()

    import torch

    texts = load_texts(SAMPLE)
    result: dict[str, Any] = {"benchmark": "embed", "max_seq_length": MAX_SEQ_LENGTH,
                              "machine": machine_info(torch), "sample": str(SAMPLE.name)}
    if not args.skip_cpu:
        cpu = MiniLmEmbedder(device="cpu", batch_size=args.batch_size)
        result["cpu"] = run(cpu, cycled(texts, args.cpu_texts))
    if torch.cuda.is_available():
        result["cuda"] = run(MiniLmEmbedder(device="cuda"), cycled(texts, args.gpu_texts))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


def run(embedder: MiniLmEmbedder, texts: list[str]) -> dict[str, Any]:
    embedder.embed_documents(texts[:32])  # warm-up: kernels, allocator, tokenizer threads
    started, started_cpu = time.perf_counter(), time.process_time()
    vectors = embedder.embed_documents(texts)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    assert vectors.shape == (len(texts), embedder.dimension)
    # Per CPU-second of this process: comparable across runs on a machine shared with other jobs.
    return {"device": embedder.device, "batch_size": embedder.batch_size, "texts": len(texts),
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "seconds": round(seconds, 3), "abstracts_per_second": round(len(texts) / seconds, 1),
            "process_cpu_seconds": round(cpu_seconds, 3),
            "abstracts_per_cpu_second": round(len(texts) / cpu_seconds, 2)}


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
