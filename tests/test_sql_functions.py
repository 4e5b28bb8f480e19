"""`bm25_score`, `reciprocal_rank_fusion` and `score_fusion` against values worked out by hand.

bm25(tf, df, N, dl, avgdl) = tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)) * ln(1 + (N - df + 0.5) / (df + 0.5))
"""

from __future__ import annotations

import math

import pytest
from django.db import DataError, transaction

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # tf 3, df 2, N 10, dl 12, avgdl 10: norm 1.15, tf part 6.6 / 4.38, idf ln 4.4
        ("3, 2, 10, 12, 10.0", 2.2325547876940237),
        # the term is in 8 of 10 documents: Lucene IDF ln(1 + 2.5/8.5) > 0 (the spec's ln(2.5/8.5) is -1.22)
        ("1, 8, 10, 10, 10.0", 0.25782910930209985),
        # explicit k1 = 2, b = 0: no length normalisation: 1 * 3 / (1 + 2) * ln(1 + 2.5/1.5)
        ("1, 1, 3, 100, 10.0, 2.0, 0.0", 0.9808292530117263),
        # average length 0 (empty statistics): normalisation off: 4.4 / 3.2 * ln 4
        ("2, 1, 5, 7, 0.0", 1.9061547465398496),
        ("2, 1, 5, 7, NULL", 1.9061547465398496),
        ("2, 1, 5, NULL, 10.0", 1.9061547465398496),
        # zero or NULL statistics score 0 instead of failing
        ("0, 1, 5, 7, 10.0", 0.0),
        ("NULL, 1, 5, 7, 10.0", 0.0),
        ("2, 0, 5, 7, 10.0", 0.0),
        ("2, NULL, 5, 7, 10.0", 0.0),
        ("2, 1, 0, 7, 10.0", 0.0),
        ("2, 1, NULL, 7, 10.0", 0.0),
    ],
)
def test_bm25_score(sql, args, expected):
    (value,) = sql(f"SELECT mcp.bm25_score({args})")[0]
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_bm25_score_stays_positive_when_statistics_are_stale(sql):
    (value,) = sql("SELECT mcp.bm25_score(1, 12, 10, 10, 10.0)")[0]  # df > N
    assert value == pytest.approx(1.0 * math.log(1 + 0.5 / 12.5))


def rrf(sql, vector_scores: str, text_scores: str, k: str = "") -> list[tuple[int, float]]:
    return sql(f"SELECT idx, score FROM mcp.reciprocal_rank_fusion({vector_scores}, {text_scores}{k})")


def test_rrf_fuses_two_lists_with_absences_and_ties_by_idx(sql):
    # vector ranks: c1 (0.9) 1, c4 (0.7) 2, c2 (0.5) 3;  text ranks: c3 (3.0) 1, c2 (2.0) 2, c4 (1.0) 3
    rows = rrf(sql, "ARRAY[0.9, 0.5, NULL, 0.7]::float[]", "ARRAY[NULL, 2.0, 3.0, 1.0]::float[]")
    both = 1 / 63 + 1 / 62  # c2: 3rd and 2nd; c4: 2nd and 3rd
    assert [idx for idx, _ in rows] == [2, 4, 1, 3]
    assert [score for _, score in rows] == pytest.approx([both, both, 1 / 61, 1 / 61])


def test_rrf_equal_scores_share_a_rank(sql):
    rows = rrf(sql, "ARRAY[0.5, 0.5, 0.1]::float[]", "NULL::float[]", ", 1")
    assert rows == [(1, pytest.approx(1 / 2)), (2, pytest.approx(1 / 2)), (3, pytest.approx(1 / 4))]


def test_rrf_default_k_is_60(sql):
    assert rrf(sql, "ARRAY[1.0]::float[]", "ARRAY[1.0]::float[]") == [(1, pytest.approx(2 / 61))]


def test_rrf_lists_of_different_lengths(sql):
    rows = rrf(sql, "ARRAY[0.2]::float[]", "ARRAY[NULL, NULL, 7.0]::float[]", ", 0")
    assert rows == [(1, pytest.approx(1.0)), (3, pytest.approx(1.0))]


@pytest.mark.parametrize(
    ("vector_scores", "text_scores"),
    [("NULL::float[]", "NULL::float[]"), ("'{}'::float[]", "'{}'::float[]"), ("ARRAY[NULL]::float[]", "NULL::float[]")],
)
def test_rrf_with_no_candidates_returns_nothing(sql, vector_scores, text_scores):
    assert rrf(sql, vector_scores, text_scores) == []


def test_rrf_rejects_a_negative_k(sql):
    with pytest.raises(DataError), transaction.atomic():
        rrf(sql, "ARRAY[1.0]::float[]", "NULL::float[]", ", -1")


def score_fusion(sql, vector_scores: str, text_scores: str, extra: str = "") -> list[tuple]:
    return sql(
        "SELECT idx, score, vector_normalized, text_normalized"
        f"  FROM mcp.score_fusion({vector_scores}, {text_scores}{extra})"
    )


def test_score_fusion_dbsf_maps_mean_plus_minus_three_sd_to_one_and_zero(sql):
    # text 1, 2, 3: mean 2, sample sd 1, [-1, 5] -> [0, 1]: 2/6, 3/6, 4/6.
    # vector 0.2, NULL, 0.6, 0.4: mean 0.4, sd 0.2, [-0.2, 1.0]: 0.4/1.2, 0.8/1.2, 0.6/1.2
    rows = score_fusion(sql, "ARRAY[0.2, NULL, 0.6, 0.4]::float[]", "ARRAY[1, 2, 3, NULL]::float[]")
    assert [idx for idx, *_ in rows][:2] == [3, 1]  # then 2 and 4, both 0.5 (up to rounding)
    expected = {1: (1 / 3, 2 / 6), 2: (None, 3 / 6), 3: (2 / 3, 4 / 6), 4: (1 / 2, None)}
    for idx, score, vector, text in rows:
        assert (vector, text) == pytest.approx(expected[idx])
        assert score == pytest.approx(sum(value for value in expected[idx] if value is not None))


def test_score_fusion_relative_is_min_max_with_weights(sql):
    rows = score_fusion(sql, "ARRAY[0.9, 0.5, 0.1]::float[]", "ARRAY[10, 20, NULL]::float[]", ", 'relative', 2, 0.5")
    assert rows == [
        (1, pytest.approx(2.0), 1.0, 0.0),
        (2, pytest.approx(1.0 + 0.5), 0.5, 1.0),
        (3, pytest.approx(0.0), 0.0, None),
    ]


@pytest.mark.parametrize("method", ["'dbsf'", "'relative'"])
def test_score_fusion_single_candidates_and_equal_scores_normalise_to_one_half(sql, method):
    assert score_fusion(sql, "ARRAY[0.3]::float[]", "ARRAY[NULL, 4]::float[]", f", {method}") == [
        (1, 0.5, 0.5, None),
        (2, 0.5, None, 0.5),
    ]
    rows = score_fusion(sql, "ARRAY[0.3, 0.3]::float[]", "NULL::float[]", f", {method}")
    assert rows == [(1, 0.5, 0.5, None), (2, 0.5, 0.5, None)]
    assert score_fusion(sql, "NULL::float[]", "'{}'::float[]", f", {method}") == []


@pytest.mark.parametrize(
    "extra",
    [", 'rrf'", ", NULL", ", 'dbsf', -1, 1", ", 'dbsf', 0, 0", ", 'dbsf', 'NaN', 1", ", 'dbsf', 1, 'Infinity'",
     ", 'dbsf', NULL, 1"],
)  # fmt: skip
def test_score_fusion_rejects_unknown_methods_and_bad_weights(sql, extra):
    with pytest.raises(DataError), transaction.atomic():
        score_fusion(sql, "ARRAY[1.0]::float[]", "NULL::float[]", extra)
