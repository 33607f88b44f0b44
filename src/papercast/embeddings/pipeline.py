"""The high-throughput batch path for a sentence-transformers model (meant for CUDA).

Texts are sorted by length so each batch pads little, tokenized ahead in a pool of threads
(the Rust tokenizer releases the GIL; each thread owns its tokenizer), moved to the device
while the previous batch computes, run in fp16, and written into one output tensor that is
copied back once.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


class BucketedEncoder:
    """Encodes many texts with `model` in length-sorted batches; returns normalised float32 rows."""

    def __init__(self, model: Any, tokenizer_file: Path, *, max_seq_length: int, batch_size: int,
                 threads: int | None = None, half_precision: bool = True) -> None:
        import torch

        self._torch = torch
        self._model = model.half() if half_precision else model
        self._device = model.device
        self._tokenizer_file = str(tokenizer_file)
        self._max_seq_length = max_seq_length
        self._batch_size = batch_size
        self._threads = threads or max(1, min(8, (os.cpu_count() or 2) // 2))
        self._local = threading.local()
        self._dimension = int(model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        # Longest first: a batch that does not fit in memory fails at once, not at the end.
        order = np.argsort([-len(text) for text in texts], kind="stable")
        batches = [order[start:start + self._batch_size] for start in range(0, len(order), self._batch_size)]
        output = torch.empty((len(texts), self._dimension), dtype=torch.float32, device=self._device)
        with torch.inference_mode(), ThreadPoolExecutor(self._threads, "tokenize") as pool:
            for rows, features in zip(batches, self._tokenized(pool, texts, batches), strict=True):
                features = {name: tensor.to(self._device, non_blocking=True)
                            for name, tensor in features.items()}
                embeddings = self._model.forward(features)["sentence_embedding"].float()
                index = torch.from_numpy(rows).to(self._device, non_blocking=True)
                output[index] = torch.nn.functional.normalize(embeddings, dim=1)
        return np.ascontiguousarray(output.cpu().numpy(), dtype=np.float32)

    def _tokenized(self, pool: ThreadPoolExecutor, texts: Sequence[str],
                   batches: list[np.ndarray]) -> Iterator[dict[str, Any]]:
        """Tokenized batches in order, keeping a bounded number of batches in flight ahead."""
        ahead = self._threads * 2
        pending: deque[Future[dict[str, Any]]] = deque()
        for batch in batches:
            pending.append(pool.submit(self._tokenize, [texts[row] for row in batch]))
            if len(pending) > ahead:
                yield pending.popleft().result()
        for future in pending:
            yield future.result()

    def _tokenize(self, texts: list[str]) -> dict[str, Any]:
        torch = self._torch
        encodings = self._thread_tokenizer().encode_batch(texts)
        features = {
            "input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.long),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings], dtype=torch.long),
        }
        if self._device.type == "cuda":
            features = {name: tensor.pin_memory() for name, tensor in features.items()}
        return features

    def _thread_tokenizer(self) -> Any:
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(self._tokenizer_file)
            tokenizer.enable_truncation(max_length=self._max_seq_length)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text in the batch
            self._local.tokenizer = tokenizer
        return tokenizer
