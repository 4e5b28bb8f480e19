"""Fusion of the two candidate lists of a hybrid search: by rank (RRF) or by normalised scores (DBSF, relative).

Why score fusion is the default: reciprocal rank fusion keeps only each list's ranks, so a document far ahead in
one list counts no more than one barely ahead; when one list is clearly better on a collection, RRF can fall
below it (Qdrant measured RRF under dense alone on DBPedia-entity; Bruch, Gai and Ingber, "An Analysis of Fusion
Functions for Hybrid Retrieval", ACM TOIS 2023, found a convex combination of normalised scores better than RRF).
Score fusion keeps how far apart the scores are, once each list is put on a common scale:

- `dbsf`, **the default** (Qdrant's distribution-based score fusion): each list's scores are mapped from
  [mean - 3 sd, mean + 3 sd] (sample standard deviation of that list's candidates) to [0, 1]. The range comes from
  the whole list, so one outlying top score does not squash the others, and a list of BM25 scores (unbounded,
  spread) and one of cosine similarities (a narrow band) land on comparable scales. Chosen for that reason, with
  equal weights, because nothing is known about a collection beforehand; no parameter was fitted to any data.
- `relative` (Weaviate's relativeScoreFusion, Elasticsearch's min-max `linear` retriever): min -> 0, max -> 1.
- `rrf`: exactly `mcp.reciprocal_rank_fusion` (competition ranks, `1 / (rrf_k + rank)`).

A list of one candidate, or whose candidates all score the same, normalises to 0.5 (its scores say nothing about
relative merit; Qdrant does the same). A document missing from a list gets nothing from it. The fused score is
`vector_weight * vector_normalized + bm25_weight * bm25_normalized` (for `rrf` the normalised score is
`1 / (rrf_k + rank)`); only the ratio of the weights changes the ranking. Ties go to the earlier candidate in
`fusion_candidates` order (the BM25 list, then vector-only documents).

`mcp.score_fusion` (migration search 0006) computes `dbsf` and `relative` in SQL with the same operations in the
same order, so that the two agree bit for bit (tests/search/test_fusion.py); sums run in candidate order for that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

#: The fusions a hybrid search offers; the first is the default.
FUSIONS = ("dbsf", "relative", "rrf")
DEFAULT_FUSION = "dbsf"
#: The lists a weight may name.
LISTS = ("bm25", "vector")


@dataclass
class ScoredList:
    """A candidate list, best first: (document id, score)."""

    hits: list[tuple[UUID, float]] = field(default_factory=list)
    method: str = ""
    terms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Fusion:
    """How a hybrid search fuses its lists (validated by `fusion_problems`)."""

    method: str = DEFAULT_FUSION
    bm25_weight: float = 1.0
    vector_weight: float = 1.0
    rrf_k: int = 60


def fusion_problems(method: str, weights: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with a fusion and its weights, by field name (empty: valid)."""
    problems: dict[str, list[str]] = {}
    if method not in FUSIONS:
        problems["fusion"] = [f"Unknown fusion {method!r}; one of {', '.join(FUSIONS)}."]
    for name, value in weights.items():
        if name not in LISTS:
            problems[f"weights.{name}"] = [f"Unknown list; weights name {' and '.join(LISTS)}."]
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems[f"weights.{name}"] = ["A number."]
        elif not math.isfinite(value) or value < 0:
            problems[f"weights.{name}"] = ["A finite number >= 0."]
    if not problems and weights and all(weights.get(name, 1.0) == 0 for name in LISTS):
        problems["weights"] = ["At least one weight above 0."]
    return problems


class Fused(NamedTuple):
    id: UUID
    score: float
    bm25_rank: int | None
    bm25_score: float | None
    vector_rank: int | None
    vector_score: float | None
    bm25_normalized: float | None = None
    vector_normalized: float | None = None


def competition_ranks(hits: Sequence[tuple[UUID, float]]) -> dict[UUID, int]:
    """Rank by score, highest first, equal scores sharing a rank (1, 2, 2, 4): SQL's rank()."""
    ranks: dict[UUID, int] = {}
    previous: float | None = None
    rank = 0
    for position, (document_id, score) in enumerate(sorted(hits, key=lambda hit: -hit[1]), start=1):
        if score != previous:
            rank, previous = position, score
        ranks[document_id] = rank
    return ranks


def fusion_candidates(text: ScoredList, vectors: ScoredList) -> list[UUID]:
    """The candidates in the order the fusion's ties are broken by: the BM25 list, then vector-only ones."""
    seen = dict.fromkeys(document_id for document_id, _ in text.hits)
    for document_id, _ in vectors.hits:
        seen.setdefault(document_id)
    return list(seen)


def _normalizer(scores: list[float], method: str) -> tuple[float, float] | None:
    """(low, high) mapped to (0, 1) for one list's scores, in candidate order; None: everything is 0.5.

    The sums are plain left-to-right additions in candidate order, as `mcp.score_fusion`'s ordered sum().
    """
    count = len(scores)
    if count < 2:
        return None
    if method == "relative":
        low, high = min(scores), max(scores)
    else:
        total = 0.0
        for score in scores:
            total += score
        mean = total / count
        squares = 0.0
        for score in scores:
            squares += (score - mean) * (score - mean)
        deviation = math.sqrt(squares / (count - 1))
        low, high = mean - 3 * deviation, mean + 3 * deviation
    return None if high == low else (low, high)


def fuse(text: ScoredList, vectors: ScoredList, fusion: Fusion) -> list[Fused]:
    """Both lists fused by `fusion.method`, best first; every candidate of either list.

    Keyed by the ids' integers: `UUID.__hash__` is Python code, and dictionaries keyed by UUIDs made a fusion of
    2 x 100 candidates cost a millisecond (a twentieth of a hybrid search).
    """
    # id, bm25 rank, bm25 score, vector rank, vector score; in fusion_candidates' order
    entries: dict[int, list[Any]] = {}
    for hits in (text.hits, vectors.hits):
        for document_id, _ in hits:
            if document_id.int not in entries:
                entries[document_id.int] = [document_id, None, None, None, None]
    for slot, hits in ((1, text.hits), (3, vectors.hits)):
        previous: float | None = None
        rank = 0
        for position, (document_id, score) in enumerate(sorted(hits, key=lambda hit: -hit[1]), start=1):
            if score != previous:  # competition ranks (1, 2, 2, 4), as SQL's rank()
                rank, previous = position, score
            entry = entries[document_id.int]
            entry[slot], entry[slot + 1] = rank, score
    method = fusion.method
    ranges: dict[int, tuple[float, float] | None] = {}
    if method != "rrf":
        for slot in (2, 4):
            ranges[slot] = _normalizer([e[slot] for e in entries.values() if e[slot] is not None], method)

    def normalized(slot: int, rank: int | None, score: float | None) -> float | None:
        if rank is None:
            return None
        if method == "rrf":
            return 1.0 / (fusion.rrf_k + rank)
        bounds = ranges[slot]
        return 0.5 if bounds is None else (score - bounds[0]) / (bounds[1] - bounds[0])

    fused = []
    for position, (document_id, text_rank, text_score, vector_rank, vector_score) in enumerate(entries.values()):
        text_normalized = normalized(2, text_rank, text_score)
        vector_normalized = normalized(4, vector_rank, vector_score)
        score = 0.0
        if vector_normalized is not None:  # the SQL functions add the vector list's term first
            score += fusion.vector_weight * vector_normalized
        if text_normalized is not None:
            score += fusion.bm25_weight * text_normalized
        hit = Fused(
            document_id, score, text_rank, text_score, vector_rank, vector_score, text_normalized, vector_normalized
        )
        fused.append((-score, position, hit))
    fused.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in fused]


def reciprocal_rank_fusion(text: ScoredList, vectors: ScoredList, *, rrf_k: int) -> list[Fused]:
    """`mcp.reciprocal_rank_fusion(vector_scores, text_scores, rrf_k)` over `fusion_candidates`, in Python."""
    return fuse(text, vectors, Fusion(method="rrf", rrf_k=rrf_k))
