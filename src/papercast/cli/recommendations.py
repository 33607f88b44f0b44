"""`papercast eval-recs`: offline evaluation of recommendations on simulated readers built from
judged queries (the model against a popularity and a nearest-neighbour baseline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from papercast.cli.context import fail, papercast_app
from papercast.cli.search import read_judged
from papercast.domain.recommendations import EVALUATION_DRAWS, MIN_RELEVANT, simulated_readers


def register(root: typer.Typer) -> None:
    @root.command("eval-recs")
    def eval_recs(
        qrels: Annotated[Path, typer.Argument(help='JSON lines {"qid", "query", "relevant": {id: grade}}.')],
        limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=100, help="Cut-off k.")] = 10,
        draws: Annotated[int, typer.Option(
            "--draws", min=1, max=50, help="Samples of negatives per reader; the model's rates are the mean.",
        )] = EVALUATION_DRAWS,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Hit rate@k and MRR@k of recommendations for simulated readers: each likes all the
        relevant papers of a query but one, which should come back in the top k."""
        import numpy as np

        from papercast.recommend.offline import Catalog, evaluate_recommenders

        judged = [(qid, relevant) for qid, _, relevant in read_judged(qrels)]
        with papercast_app() as papercast:
            model_id = papercast.embedding_model_id()
            if model_id is None:
                fail("no encoder is fitted yet: run `papercast embed` first")
            ids, vectors = papercast.embedding_store().vectors(model_id)
            points = papercast.recommendation_store().points()
        if not ids:
            fail(f"no paper has a vector of {model_id}: run `papercast embed` first")
        readers = simulated_readers(judged, known=set(ids))
        if not readers:
            fail(f"no query in {qrels} has {MIN_RELEVANT} or more relevant papers with vectors")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        catalog = Catalog(ids, vectors / np.where(norms > 0, norms, 1.0), points)
        reports = evaluate_recommenders(catalog, readers, k=limit, draws=draws)
        if as_json:
            typer.echo(json.dumps({name: report.as_dict() for name, report in reports.items()}))
            return
        queries = len({reader.query_id for reader in readers})
        typer.echo(f"{len(readers)} simulated readers from {queries} queries, {len(ids):,} papers, "
                   f"at {limit}")
        typer.echo(f"{'recommender':<12} {'hit':>7} {'MRR':>7}")
        for name, report in reports.items():
            typer.echo(f"{name:<12} {report.hit_rate:>7.4f} {report.mrr:>7.4f}")
