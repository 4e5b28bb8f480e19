"""Small deterministic corpora and independent recomputations for the search tests."""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from typing import Any

from django.db import connection

from mcpadmin.core.actor import Actor
from search.services import DocumentInput, documents_ingest

#: Who the tests' direct service calls act as: a command (no tenant), allowed everything.
OPERATOR = Actor.for_command("tests")

# Real English words, so that the stemmer has work to do (runs/running -> run), and stop words among them.
WORDS = (  # noqa: SIM905
    "wing wings flow flows flowing pressure boundary layer layers shock shocks wave waves heat heating "
    "transfer supersonic subsonic turbulent laminar drag lift airfoil airfoils nozzle jet jets plate "
    "plates cylinder cylinders cone cones body bodies velocity velocities temperature density mach number "
    "numbers surface surfaces theory theoretical experiment experimental measurement measured solution "
    "solutions equation equations method methods result results effect effects stability unstable vortex "
    "vortices separation running runs run engine engines blade blades rotor propeller panel panels "
    "flutter buckling stress"
).split()
STOP = (  # noqa: SIM905
    "the of and a in to is for with on by at from as an that this are be"
).split()


def sentence(rng: random.Random, length: int) -> str:
    words = []
    for _ in range(length):
        if rng.random() < 0.3:
            words.append(rng.choice(STOP))
        else:
            # a Zipf-like preference for the first words: some terms are common, most are rare
            words.append(
                WORDS[min(int(rng.paretovariate(0.9)) - 1, len(WORDS) - 1)] if rng.random() < 0.5 else rng.choice(WORDS)
            )
    return " ".join(words)


def corpus(count: int, *, seed: int = 7, dimensions: int = 8) -> list[DocumentInput]:
    rng = random.Random(seed)
    documents = []
    for index in range(count):
        vector = [rng.gauss(0, 1) for _ in range(dimensions)]
        documents.append(
            DocumentInput(
                content=sentence(rng, rng.randint(5, 40)),
                model="test-model",
                embedding=vector,
                external_id=f"doc-{index}",
                agent_id=f"agent-{index % 3}",
                task_type=("summary", "code", "research")[index % 3],
                metadata={"group": index % 5, "even": index % 2 == 0},
            )
        )
    return documents


def ingest(tenant: Any, collection: str, documents: list[DocumentInput], batch: int = 200) -> list[Any]:
    ids = []
    for start in range(0, len(documents), batch):
        result = documents_ingest(
            actor=OPERATOR, tenant=tenant, collection=collection, documents=documents[start : start + batch]
        )
        ids += [document_id for document_id, _ in result.documents]
    return ids


def analyzed_tokens(config: str, text: str) -> list[str]:
    """The analyzer's lexemes of `text`, token by token (ts_debug), independent of our tsvector code."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT l FROM ts_debug(%s::regconfig, %s) AS t, unnest(t.lexemes) AS l", [config, text])
        return [row[0] for row in cursor.fetchall()]


def documents_tokens(tenant: Any, collection: str, config: str = "english") -> dict[Any, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, content FROM embeddings WHERE tenant_id = %s AND collection = %s", [tenant.id, collection]
        )
        rows = cursor.fetchall()
    return {document_id: analyzed_tokens(config, content) for document_id, content in rows}


def reference_bm25(
    tokens: dict[Any, list[str]], query: list[str], k1: float = 1.2, b: float = 0.75
) -> list[tuple[Any, float]]:
    """BM25 with Lucene's IDF, from token lists, in plain Python: every document with a query term, best first."""
    n = len(tokens)
    average = sum(len(t) for t in tokens.values()) / n
    counts = {document_id: Counter(t) for document_id, t in tokens.items()}
    df = Counter(term for c in counts.values() for term in c)
    scored = []
    for document_id, tf in counts.items():
        terms = [term for term in sorted(set(query)) if term in tf]
        if not terms:
            continue
        score = 0.0
        for term in terms:
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            length_norm = 1 - b + b * (len(tokens[document_id]) / average)
            score += (tf[term] * (k1 + 1)) / (tf[term] + k1 * length_norm) * idf
        scored.append((document_id, score))
    scored.sort(key=lambda hit: (-hit[1], hit[0]))
    return scored


def recomputed_statistics(tenant: Any, collection: str, config: str = "english") -> tuple[int, int, dict[str, int]]:
    """(documents, total length, term -> document count), recomputed in Python from the documents' text."""
    tokens = documents_tokens(tenant, collection, config)
    df: Counter[str] = Counter()
    for document_tokens in tokens.values():
        df.update(set(document_tokens))
    return len(tokens), sum(len(t) for t in tokens.values()), dict(df)


def side_table_statistics(collection_id: Any) -> tuple[int, int, dict[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(documents), 0), coalesce(sum(total_length), 0) FROM search_collection_counters "
            "WHERE collection_id = %s",
            [collection_id],
        )
        documents, total_length = cursor.fetchone()
        cursor.execute(
            "SELECT term, sum(document_count) FROM search_term_stats WHERE collection_id = %s GROUP BY term "
            "HAVING sum(document_count) <> 0",
            [collection_id],
        )
        return int(documents), int(total_length), {term: int(count) for term, count in cursor.fetchall()}


SEARCH_TABLE_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(embeddings|embedding_statistics|search_\w+)\b", re.IGNORECASE
)


def search_writes(queries: list[dict[str, Any]]) -> list[str]:
    """The statements that wrote to a table of search (rate limits and key bookkeeping are not search's)."""
    return [query["sql"] for query in queries if SEARCH_TABLE_WRITE.search(query["sql"])]
