"""Where the similarity floor for papers found by meaning alone should sit, measured.

Over the demo corpus with its dev queries, Cranfield and CISI (each in its own data directory,
built on first use: ingest, embed with the configured encoder, index), this prints:

- the cosine of every judged-relevant paper with its query, and of each query's nearest paper;
- the nearest paper's cosine for nonsense queries (no word of any language) and for off-topic
  ones (real words that none of the corpora is about);
- nDCG@10, MRR@10 and Recall@10 of hybrid and vector search for each candidate floor
  (`none` is the search without a floor), and how many nonsense and off-topic queries
  still get results.

    python bench/similarity_floor.py [--work DIR] [--model minilm|tfidf|hashing] \
        [--corpora dev,cranfield,cisi]

Prints one JSON object. Building the three directories embeds about 3,100 abstracts (minutes
with MiniLM on a CPU); later runs reuse them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FLOORS = (None, 0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
NONSENSE = ("zzqqxxnonsenseword", "qwxzv bnmkl", "asdfghjkl", "xkcd9182736 zzyzx", "jfkdls fjdkslq pqowie",
            "aaaaaaaa bbbbbbb", "vvvvqqqq", "plmoknijb uhvygc", "xyzzy plugh", "gribblefrotz wumpus")
OFF_TOPIC = ("chocolate cake recipe", "football world cup final score", "cheap flights to lisbon",
             "how to knit a scarf", "best pizza in naples", "wedding dress shopping")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("var/bench-similarity-floor"))
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--corpora", default="dev,cranfield,cisi")
    args = parser.parse_args()
    corpora = prepare(args.work.resolve(), args.model, args.corpora.split(","))
    report: dict[str, Any] = {"machine": machine(), "model": args.model, "corpora": {}}
    for name, (data_dir, queries) in corpora.items():
        report["corpora"][name] = measure(data_dir, queries, args.model)
    print(json.dumps(report, indent=1))


def prepare(work: Path, model: str, names: list[str]) -> dict[str, tuple[Path, Path]]:
    """Each corpus's data directory (built when missing) and its judged queries."""
    exported = work / "export"
    ir = SHARED / "fixtures" / "ir-benchmarks"
    corpora = {
        "dev": (SHARED / "seed-papers.jsonl", SHARED / "dev-queries.jsonl"),
        "cranfield": (exported / "cranfield-papers.jsonl", exported / "cranfield-queries.jsonl"),
        "cisi": (exported / "cisi-papers.jsonl", exported / "cisi-queries.jsonl"),
    }
    corpora = {name: corpora[name] for name in names}
    for name in {"cranfield", "cisi"} & set(names):
        if not corpora[name][0].exists():
            papercast({}, "eval-export", name, str(ir / name), "--out", str(exported))
    prepared = {}
    for name, (papers, queries) in corpora.items():
        data_dir = work / f"{name}-{model}"
        if not (data_dir / "ready").exists():
            env = {"PAPERCAST_DATA_DIR": str(data_dir), "PAPERCAST_EMBEDDING_MODEL": model}
            for command in (("ingest", str(papers)), ("embed",), ("index", "rebuild")):
                papercast(env, *command)
            (data_dir / "ready").touch()
        prepared[name] = (data_dir, queries)
    return prepared


def papercast(env: dict[str, str], *args: str) -> None:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PAPERCAST_")}
    subprocess.run([str(Path(sys.executable).parent / "papercast"), *args], env={**clean, **env}, check=True,
                   stdout=subprocess.DEVNULL)


def measure(data_dir: Path, queries_file: Path, model: str) -> dict[str, Any]:
    from papercast.bootstrap import build
    from papercast.domain.evaluation import evaluate
    from papercast.services.search import SearchTuning
    from papercast.settings import Settings

    app = build(Settings.load(env={}, data_dir=data_dir, embedding_model=model))
    follower = app.index_follower()
    follower.catch_up()
    service = app.search_service(tuning=SearchTuning(embed_timeout=600.0))
    vectors = follower.vectors
    assert vectors is not None, f"no vectors in {data_dir}"
    embedder = app.embedder()
    judged = [json.loads(line) for line in queries_file.read_text(encoding="utf-8").splitlines() if line]
    relevant_cosines, nearest_cosines = [], []
    for item in judged:
        query_vector = np.asarray(embedder.embed_query(item["query"]), dtype=np.float32)
        ids, matrix = vectors.vectors(list(item["relevant"]))
        relevant_cosines.extend((matrix @ query_vector).tolist() if ids else [])
        nearest_cosines.append(vectors.search(query_vector, 1)[0][1])
    measured = service.fusion
    by_floor = {}
    for floor in FLOORS:
        service.fusion = replace(measured, similarity_floor=-1.0 if floor is None else floor)
        row: dict[str, Any] = {}
        for mode in ("hybrid", "vector"):
            runs = [(service.search(item["query"], limit=10, mode=mode).ranking, item["relevant"])
                    for item in judged]
            row[mode] = {key: round(value, 4) for key, value in evaluate(runs, k=10).as_dict().items()}
        row["nonsense_with_results"] = sum(1 for text in NONSENSE if service.search(text).results)
        row["off_topic_with_results"] = sum(1 for text in OFF_TOPIC if service.search(text).results)
        by_floor["none" if floor is None else str(floor)] = row
    service.close()
    app.close()
    return {
        "papers": len(vectors), "queries": len(judged), "measured_floor": measured.similarity_floor,
        "relevant_cosine": summary(relevant_cosines), "nearest_cosine": summary(nearest_cosines),
        "nonsense_nearest": nearest_of(NONSENSE, embedder, vectors),
        "off_topic_nearest": nearest_of(OFF_TOPIC, embedder, vectors),
        "relevant_below": {str(f): round(float(np.mean(np.array(relevant_cosines) < f)), 4)
                           for f in FLOORS if f is not None},
        "by_floor": by_floor,
    }


def nearest_of(texts: tuple[str, ...], embedder: Any, vectors: Any) -> dict[str, float]:
    return {text: round(vectors.search(np.asarray(embedder.embed_query(text), dtype=np.float32), 1)[0][1], 4)
            for text in texts}


def summary(values: list[float]) -> dict[str, float]:
    array = np.array(values)
    percentiles = {f"p{p}": round(float(np.percentile(array, p)), 4) for p in (1, 5, 10, 25, 50)}
    return {"count": len(values), "min": round(float(array.min()), 4), **percentiles}


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "processor": platform.processor(),
            "system": platform.platform()}


if __name__ == "__main__":
    main()
