"""Hybrid search latency, serving memory, index build time and incremental lag over synthetic papers.

For each engine: ingest `--count` synthetic snapshot records (bench/synthetic.py) into a database,
give every paper a vector of the MiniLM model id, rebuild the local indexes (timed), then, in a
fresh serving process, load the indexes and the MiniLM encoder, run `--queries` fixed queries
(each once to warm, then once measured, the query embedding included: the service's query-vector
cache is emptied before each measured query), report the serving process's memory, and finally
ingest 1,000 more papers with their vectors and time the follower's catch-up to zero lag,
with the seconds and bytes its vector-index save took (bytes: what the process passed to
write(2), from /proc/self/io). Then, with queries running in the serving process the whole
time, a second catch-up (the same 1,000 papers revised and re-embedded) and a full save of
the vector index (what a compaction writes, into a scratch folder): hybrid latency while a
save runs.

The script runs on any papercast version, so that the code before a change can be measured
with its own virtual environment: `/old/.venv/bin/python bench/search.py ...`.

Vectors: embedding 100k abstracts with MiniLM on 2 CPUs takes over an hour, so only a sample
(`--sample`, spread evenly over the papers) is embedded with the real encoder. Every other paper
gets the weighted mean of the real vectors of its `NEIGHBOURS` most similar sample papers (TF-IDF
cosine over title + abstract, sample-fitted vocabulary), plus Gaussian noise seeded by its id,
L2-normalised. They are stored with `SqlEmbeddingStore.save` under the MiniLM model id, so the
follower and vector index read them like real ones.

    python bench/search.py [--count 100000] [--engines sqlite,postgresql] [--queries 200] \
        [--data-dir DIR] [--reuse [--keep-index]] [--database-url postgresql+psycopg://...] [--seed 1]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENGINES = ("sqlite", "postgresql")
INCREMENT = 1_000
NEIGHBOURS = 8
NOISE = 0.35  # norm of the noise added to a paper's neighbour mean before normalising
SAVE_BATCH = 5_000
PG_DATABASE = "bench_search"


# --- vectors ----------------------------------------------------------------------------------------


class VectorMaker:
    """Deterministic, realistic vectors: nearest real sample embeddings by TF-IDF, plus noise."""

    def __init__(self, sample_texts: list[str], sample_vectors: Any, seed: int) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=1)
        self.sample_matrix = self.vectorizer.fit_transform(sample_texts)
        self.sample_vectors = sample_vectors
        self.seed = seed

    def vectors(self, ids: list[str], texts: list[str]) -> Any:
        import numpy as np

        sims = (self.vectorizer.transform(texts) @ self.sample_matrix.T).toarray()
        top = np.argpartition(-sims, NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
        weights = np.take_along_axis(sims, top, axis=1) + 1e-6
        weights /= weights.sum(axis=1, keepdims=True)
        mixed = np.einsum("nk,nkd->nd", weights, self.sample_vectors[top])
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        dimension = mixed.shape[1]
        noise = np.stack([np.random.default_rng([self.seed, zlib.crc32(i.encode())])
                          .standard_normal(dimension) for i in ids])
        mixed += NOISE * noise / np.sqrt(dimension)
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        return mixed.astype(np.float32)


def _vector_maker(app: Any, data_dir: Path, seed: int, sample: int) -> tuple[VectorMaker, dict[str, Any]]:
    """Embed (or reuse the cached embeddings of) an even sample of the papers with the real MiniLM."""
    import numpy as np
    from sqlalchemy import select

    from papercast.embeddings.text import paper_text
    from papercast.storage.tables import papers

    cache = data_dir / f"sample-{sample}.npz"
    info: dict[str, Any] = {}
    if cache.exists():
        loaded = np.load(cache, allow_pickle=False)
        ids, texts, vectors = list(loaded["ids"]), list(loaded["texts"]), loaded["vectors"]
        info["sample_embed_seconds"] = "cached"
    else:
        with app.engine.connect() as connection:
            rows = connection.execute(select(papers.c.id, papers.c.title, papers.c.abstract)
                                      .order_by(papers.c.id)).all()
        step = max(1, len(rows) // sample)
        chosen = rows[::step][:sample]
        ids, texts = [r[0] for r in chosen], [paper_text(r[1], r[2]) for r in chosen]
        embedder = app.embedder()
        started = time.perf_counter()
        vectors = embedder.embed_documents(texts)
        info["sample_embed_seconds"] = round(time.perf_counter() - started, 2)
        np.savez(cache, ids=np.array(ids), texts=np.array(texts), vectors=vectors)
    info["sample_papers"] = len(ids)
    return VectorMaker(texts, np.asarray(vectors, dtype=np.float32), seed), {"sample_ids": ids, **info}


def _save_vectors(app: Any, maker: VectorMaker, rows: list[tuple[str, str, str, str]],
                  real: dict[str, Any]) -> tuple[float, float]:
    """Make and store vectors for (id, title, abstract, content_hash) rows; (make, save) seconds."""
    from papercast.embeddings.minilm import MODEL_ID
    from papercast.embeddings.text import paper_text, text_hash

    store = app.embedding_store()
    make = save = 0.0
    for start in range(0, len(rows), SAVE_BATCH):
        chunk = rows[start:start + SAVE_BATCH]
        texts = [paper_text(title, abstract) for _, title, abstract, _ in chunk]
        began = time.perf_counter()
        matrix = maker.vectors([r[0] for r in chunk], texts)
        for position, row in enumerate(chunk):
            if row[0] in real:
                matrix[position] = real[row[0]]
        made = time.perf_counter()
        store.save(MODEL_ID, [(row[0], matrix[p], row[3], text_hash(texts[p]))
                              for p, row in enumerate(chunk)])
        make += made - began
        save += time.perf_counter() - made
    return make, save


# --- child: prepare (ingest, vectors, index build) -----------------------------------------------


def _app(database_url: str, data_dir: Path) -> Any:
    from papercast.bootstrap import build
    from papercast.settings import Settings

    return build(Settings.load(env={}, data_dir=data_dir, database_url=database_url,
                               embedding_model="minilm"))


def prepare(database_url: str, data_dir: Path, records: Path, count: int, seed: int,
            sample: int, keep_index: bool = False) -> dict[str, Any]:
    from sqlalchemy import select

    from papercast.embeddings.minilm import MODEL_ID
    from papercast.sources.detect import open_source
    from papercast.storage.tables import papers

    app = _app(database_url, data_dir)
    result: dict[str, Any] = {}
    try:
        have = app.papers.count()
        if have >= count:
            result["ingest_seconds"] = f"reused ({have} papers)"
        else:
            source = open_source(records, "snapshot")
            started = time.perf_counter()
            report = app.ingest.ingest_source(source)
            result["ingest_seconds"] = round(time.perf_counter() - started, 2)
            result["ingest_new"], result["ingest_rejected"] = report.new, report.rejected
        result["papers"] = app.papers.count()
        store = app.embedding_store()
        if store.count(MODEL_ID) >= result["papers"]:
            result["vectors"] = f"reused ({store.count(MODEL_ID)} vectors)"
        else:
            started = time.perf_counter()
            maker, info = _vector_maker(app, data_dir.parent, seed, sample)
            with app.engine.connect() as connection:
                rows = [tuple(r) for r in connection.execute(
                    select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.content_hash)
                    .order_by(papers.c.id))]
            sample_index = {pid: i for i, pid in enumerate(info.pop("sample_ids"))}
            real = {pid: maker.sample_vectors[i] for pid, i in sample_index.items()}
            make, save = _save_vectors(app, maker, rows, real)  # type: ignore[arg-type]
            result["vectors"] = {**info, "generate_seconds": round(make, 2), "store_seconds": round(save, 2),
                                 "total_seconds": round(time.perf_counter() - started, 2),
                                 "stored": store.count(MODEL_ID)}
        follower = app.index_follower()
        started = time.perf_counter()
        if keep_index and follower.status().keyword_seq > 0:
            report = follower.catch_up()
            result["index_build_seconds"] = f"kept (caught up in {time.perf_counter() - started:.1f} s)"
        else:
            report = follower.rebuild()
            result["index_build_seconds"] = round(time.perf_counter() - started, 2)
        result["index_build"] = {"papers_indexed": report.papers_indexed,
                                 "vectors_indexed": report.vectors_indexed,
                                 "hnsw": bool(follower.vectors is not None and follower.vectors.uses_hnsw)}
    finally:
        app.close()
    return result


# --- child: serve (latency, memory, incremental lag) ---------------------------------------------


def serve(database_url: str, data_dir: Path, queries_file: Path, increment: Path, seed: int,
          sample: int, profile: bool) -> dict[str, Any]:
    app = _app(database_url, data_dir)
    result: dict[str, Any] = {"rss_mb_at_start": _proc_status("VmRSS")}
    try:
        started = time.perf_counter()
        follower = app.index_follower()
        follower.catch_up()
        service = app.search_service(semantic=True)
        result["load_seconds"] = round(time.perf_counter() - started, 2)
        queries = json.loads(queries_file.read_text())
        for query in queries:  # warm: model kernels, index pages, database connections
            service.search(query, limit=10)
        result["rss_mb_after_load_and_warm"] = _proc_status("VmRSS")
        embedder = app.embedder()
        embed_ms = []
        for query in queries:
            began = time.perf_counter()
            embedder.embed_query(query)
            embed_ms.append((time.perf_counter() - began) * 1000)
        latencies, modes, degraded, empty = [], {}, 0, 0
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for query in queries:
            service._recent_vectors.clear()  # noqa: SLF001 - measure with the query embedding included
            began = time.perf_counter()
            response = service.search(query, limit=10)
            latencies.append((time.perf_counter() - began) * 1000)
            modes[response.mode] = modes.get(response.mode, 0) + 1
            degraded += bool(response.degraded)
            empty += not response.results
        if profiler is not None:
            import io
            import pstats

            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
            (data_dir / "profile.txt").write_text(out.getvalue())
            result["profile"] = str(data_dir / "profile.txt")
        result["queries"] = {"count": len(queries), **_stats(latencies), "modes": modes, "degraded": degraded,
                             "empty": empty, "embed_only": _stats(embed_ms),
                             "slowest": sorted(zip(latencies, queries, strict=True), reverse=True)[:3]}
        result["rss_mb"] = _proc_status("VmRSS")
        result["vm_hwm_mb"] = _proc_status("VmHWM")
        result["vectors_in_index"] = len(follower.vectors) if follower.vectors is not None else 0
        result["incremental"] = _incremental(app, follower, increment, data_dir, seed, sample)
        result["while_saving"] = _queries_while_saving(app, follower, service, queries, increment, data_dir,
                                                       seed, sample)
    finally:
        app.close()
    return result


def _write_increment(app: Any, increment: Path, data_dir: Path, seed: int,
                     sample: int) -> tuple[str, int, float, float, float]:
    """Ingest INCREMENT papers (revised copies when the database has them) and store their vectors:
    (kind, papers, ingest, vector make and vector store seconds)."""
    from sqlalchemy import select

    from papercast.sources.detect import open_source
    from papercast.storage.tables import papers

    lines = increment.read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]
    kind = "new papers"
    if app.papers.get_many(ids[:1]):
        kind = "updated papers (abstracts changed; the database already held them)"
        nonce = time.time_ns()
        records = [json.loads(line) for line in lines]
        for record in records:
            record["abstract"] = record["abstract"].rstrip() + f" Revised in run {nonce}."
        path = data_dir / "increment-updated.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        increment = path
    maker, _ = _vector_maker(app, data_dir.parent, seed, sample)
    source = open_source(increment, "snapshot")
    started = time.perf_counter()
    app.ingest.ingest(source.items(), source.name)
    ingested = time.perf_counter()
    with app.engine.connect() as connection:
        rows = [tuple(r) for r in connection.execute(
            select(papers.c.id, papers.c.title, papers.c.abstract, papers.c.content_hash)
            .where(papers.c.id.in_(ids)))]
    make, save = _save_vectors(app, maker, rows, {})  # type: ignore[arg-type]
    return kind, len(rows), ingested - started, make, save


class _SaveMeter:
    """Times the follower's vector-index saves and counts the bytes they write (any papercast version:
    it wraps `IndexFollower._save_vectors`, whatever its arguments)."""

    def __init__(self, follower: Any) -> None:
        self.seconds, self.bytes, self.saves = 0.0, 0, 0
        inner = follower._save_vectors  # noqa: SLF001 - measured from outside, on old and new code alike

        def measured(*args: Any, **kwargs: Any) -> Any:
            began, wrote = time.perf_counter(), _io("wchar")
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began
                self.bytes += _io("wchar") - wrote
                self.saves += 1

        follower._save_vectors = measured  # noqa: SLF001

    def as_dict(self) -> dict[str, Any]:
        return {"saves": self.saves, "seconds": round(self.seconds, 3), "bytes_written": self.bytes,
                "mb_written": round(self.bytes / 2**20, 2)}


def _io(key: str) -> int:
    """A counter of /proc/self/io: `wchar` (bytes passed to write) or `write_bytes` (sent to storage)."""
    with open("/proc/self/io") as counters:
        for line in counters:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _incremental(app: Any, follower: Any, increment: Path, data_dir: Path, seed: int,
                 sample: int) -> dict[str, Any]:
    """Ingest INCREMENT papers and their vectors, and time the follower's catch-up until the status
    shows no lag, with what its vector-index save cost."""
    before = follower.status()
    started = time.perf_counter()
    kind, count, ingest_seconds, make, save = _write_increment(app, increment, data_dir, seed, sample)
    meter = _SaveMeter(follower)
    written, wrote = time.perf_counter(), (_io("wchar"), _io("write_bytes"))
    report = follower.catch_up()
    caught = time.perf_counter()
    catch_up_bytes = {"wchar": _io("wchar") - wrote[0], "write_bytes": _io("write_bytes") - wrote[1]}
    status = follower.status()
    status_seconds = time.perf_counter() - caught
    lag_zero = status.keyword_lag_changes == 0 and status.vector_lag_changes == 0
    catch_up = caught - written
    saved = getattr(report, "vector_save", None)
    return {"papers": count, "kind": kind, "lag_before": {"keyword": before.keyword_lag_changes,
                                                         "vectors": before.vector_lag_changes},
            "ingest_seconds": round(ingest_seconds, 2), "vector_make_seconds": round(make, 2),
            "vector_store_seconds": round(save, 2), "catch_up_seconds": round(catch_up, 3),
            "catch_up_papers_per_second": round(count / catch_up) if catch_up else None,
            "catch_up_bytes_written": catch_up_bytes, "vector_save": meter.as_dict(),
            "vector_save_report": saved.as_dict() if saved is not None else None,
            "status_seconds": round(status_seconds, 3), "lag_zero_after": lag_zero,
            "indexed": {"papers": report.papers_indexed, "vectors": report.vectors_indexed},
            "write_to_searchable_seconds": round(caught - started, 2)}


def _queries_while_saving(app: Any, follower: Any, service: Any, queries: list[str], increment: Path,
                          data_dir: Path, seed: int, sample: int) -> dict[str, Any]:
    """Hybrid latency of queries run back to back while (1) a catch-up of INCREMENT revised papers
    runs, its save included, and (2) the whole vector index is saved into a scratch folder."""
    import shutil

    _write_increment(app, increment, data_dir, seed, sample)
    catch_up = _while(service, queries, follower.catch_up)
    scratch = data_dir / "scratch-vectors"
    shutil.rmtree(scratch, ignore_errors=True)
    vectors = follower.vectors
    try:
        full_save = _while(service, queries, lambda: vectors.save(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"catch_up": catch_up, "full_save": full_save}


def _while(service: Any, queries: list[str], work: Any) -> dict[str, Any]:
    """Run `work` in a thread and hybrid queries in this one until it ends (at least one query)."""
    import threading

    done = threading.Event()
    seconds: list[float] = []

    def run() -> None:
        began = time.perf_counter()
        try:
            work()
        finally:
            seconds.append(time.perf_counter() - began)
            done.set()

    worker = threading.Thread(target=run, name="bench-save")
    latencies, modes = [], {}
    worker.start()
    position = 0
    while not done.is_set() or not latencies:
        query = queries[position % len(queries)]
        position += 1
        service._recent_vectors.clear()  # noqa: SLF001 - the query embedding is part of each search
        began = time.perf_counter()
        response = service.search(query, limit=10)
        latencies.append((time.perf_counter() - began) * 1000)
        modes[response.mode] = modes.get(response.mode, 0) + 1
    worker.join()
    return {"work_seconds": round(seconds[0], 2), "queries": len(latencies), **_stats(latencies),
            "modes": modes}


def _stats(values: list[float]) -> dict[str, float]:
    import numpy as np

    array = np.array(values)
    return {"p50_ms": round(float(np.percentile(array, 50)), 2),
            "p95_ms": round(float(np.percentile(array, 95)), 2),
            "mean_ms": round(float(array.mean()), 2), "max_ms": round(float(array.max()), 2)}


def _proc_status(key: str) -> float | None:
    """A memory line of /proc/self/status in MiB (per address space, unlike ru_maxrss after exec)."""
    with suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


# --- queries -----------------------------------------------------------------------------------------


def make_queries(records: Path, count: int, total: int, seed: int) -> list[str]:
    """`count` queries from the synthetic papers' own words: mostly 2-6 word phrases of titles and
    abstracts, some with a cat: or year: filter, some quoted phrases; fixed by the seed."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as STOP_WORDS

    rng = random.Random(f"{seed}/queries")
    wanted = sorted(rng.sample(range(total), count))
    picked = []
    with records.open() as reader:
        position = 0
        for index, line in enumerate(reader):
            if position < len(wanted) and index == wanted[position]:
                picked.append(json.loads(line))
                position += 1
    queries = []
    for number, record in enumerate(picked):
        source = record["title"] if number % 2 else record["abstract"]
        words = [w.strip(".,;:()[]{}\"'$\\") for w in source.split()]
        words = [w for w in words if w.isalpha() and len(w) > 2 and w.lower() not in STOP_WORDS]
        words = words or ["learning", "model"]
        length = rng.randint(2, 6)
        start = rng.randrange(max(1, len(words) - length + 1))
        phrase = " ".join(words[start:start + length]).lower()
        kind = number % 10
        if kind == 3:
            phrase += f" cat:{record['categories'].split()[0]}"
        elif kind == 6:
            year = 2000 + int(record["id"][:2])
            phrase += f" year:{year - 1}..{year + 1}"
        elif kind == 8:
            quoted = " ".join(words[start:start + 2]).lower()
            rest = " ".join(words[start + 2:start + length]).lower()
            phrase = f'"{quoted}" {rest}'.strip()
        queries.append(phrase)
    return queries


# --- the benchmark ---------------------------------------------------------------------------------


def _child(mode: str, args: argparse.Namespace, database_url: str, data_dir: Path,
           extra: list[str]) -> dict[str, Any]:
    result_file = data_dir / f"{mode}-result.json"
    command = [sys.executable, __file__, "--child", mode, "--database-url", database_url,
               "--data-dir", str(data_dir), "--seed", str(args.seed), "--sample", str(args.sample),
               "--count", str(args.count), "--result", str(result_file), *extra]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} child failed with status {done.returncode}: {' '.join(command)}")
    return json.loads(result_file.read_text())


def _split(full: Path, head: Path, tail: Path, count: int) -> None:
    with full.open() as reader, head.open("w") as first, tail.open("w") as rest:
        for index, line in enumerate(reader):
            (first if index < count else rest).write(line)


def _postgres_database(admin_url: str, drop_first: bool) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                    {"n": PG_DATABASE}).first()
        if exists and drop_first:
            connection.execute(text(f'DROP DATABASE "{PG_DATABASE}" WITH (FORCE)'))
        if not exists or drop_first:
            connection.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
    admin.dispose()
    return make_url(admin_url).set(database=PG_DATABASE).render_as_string(hide_password=False)


def _drop_postgres(admin_url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
    admin.dispose()


def benchmark(args: argparse.Namespace, engines: list[str]) -> dict[str, Any]:
    method = (f"{args.sample} papers (every n-th by id) embedded with the real MiniLM; each other paper: "
              f"TF-IDF-weighted mean of the real vectors of its {NEIGHBOURS} most similar sample papers "
              f"+ Gaussian noise (norm {NOISE}, seeded by id), L2-normalised; stored through "
              "SqlEmbeddingStore.save under the MiniLM model id")
    output: dict[str, Any] = {"benchmark": "search", "count": args.count, "seed": args.seed,
                              "machine": machine(), "vector_method": method}
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="papercast-bench-search-"))
    root.mkdir(parents=True, exist_ok=True)
    full, head, tail = root / "records-all.jsonl", root / "records.jsonl", root / "increment.jsonl"
    if not (args.reuse and head.exists() and tail.exists()):
        started = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "bench" / "synthetic.py"), "--count",
                        str(args.count + INCREMENT), "--seed", str(args.seed), "--out", str(full)],
                       check=True, stdout=subprocess.DEVNULL)
        _split(full, head, tail, args.count)
        full.unlink()
        output["generate_seconds"] = round(time.perf_counter() - started, 2)
    queries_file = root / f"queries-{args.queries}.json"
    queries = make_queries(head, args.queries, args.count, args.seed)
    queries_file.write_text(json.dumps(queries))
    output["query_examples"] = queries[:12]
    output["engines"] = {}
    for engine in engines:
        data_dir = root / engine
        if not args.reuse:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(exist_ok=True)
        if engine == "sqlite":
            url = f"sqlite:///{data_dir / 'papercast.db'}"
        else:
            url = _postgres_database(args.database_url, drop_first=not args.reuse)
        try:
            prepared = _child("prepare", args, url, data_dir, ["--file", str(head)]
                              + (["--keep-index"] if args.keep_index else []))
            served = _child("serve", args, url, data_dir,
                            ["--file", str(queries_file), "--increment", str(tail)]
                            + (["--profile"] if args.profile else []))
        finally:
            if engine == "postgresql" and not args.keep:
                _drop_postgres(args.database_url)
        output["engines"][engine] = {**prepared, **served}
    output["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    output["data_dir"] = str(root)
    return output


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpu": "unknown", "cores": os.cpu_count(), "ram_gb": None,
                            "load_average_start": [round(x, 2) for x in os.getloadavg()],
                            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    with suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with suppress(OSError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                info["ram_gb"] = round(int(line.split()[1]) / 2**20, 1)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure hybrid search latency, memory and index lag.")
    parser.add_argument("--count", type=int, default=100_000, help="Papers (default 100000).")
    parser.add_argument("--engines", default=",".join(ENGINES), help="Comma-separated: sqlite,postgresql.")
    parser.add_argument("--queries", type=int, default=200, help="Measured queries (default 200).")
    parser.add_argument("--sample", type=int, default=512, help="Papers embedded with the real MiniLM.")
    parser.add_argument("--data-dir", type=Path, help="Working directory (default: a new temporary one).")
    parser.add_argument("--reuse", action="store_true",
                        help="Reuse records, databases and vectors in --data-dir.")
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL database afterwards.")
    parser.add_argument("--keep-index", action="store_true",
                        help="With --reuse: catch the existing index up instead of rebuilding it.")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured queries.")
    parser.add_argument("--database-url", default=os.environ.get(
        "PAPERCAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:54340/lead"),
        help=f"PostgreSQL server URL; the benchmark uses a database {PG_DATABASE!r} on it.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", choices=("prepare", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--increment", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "prepare":
        result = prepare(args.database_url, args.data_dir, args.file, args.count, args.seed, args.sample,
                         args.keep_index)
        args.result.write_text(json.dumps(result))
        return 0
    if args.child == "serve":
        result = serve(args.database_url, args.data_dir, args.file, args.increment, args.seed, args.sample,
                       args.profile)
        args.result.write_text(json.dumps(result))
        return 0
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(engines) - set(ENGINES) or not engines:
        parser.error(f"--engines: choose from {', '.join(ENGINES)}")
    print(json.dumps(benchmark(args, engines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
