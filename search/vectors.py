"""Checking embeddings and writing them as pgvector text, cheaply enough for batches of 1,000.

pgvector stores float4: a component beyond float4's range would overflow, and
NaN, infinities and the zero vector have no direction (no unit vector, no
cosine). Such vectors are refused with a message naming the problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from search.models import NORMALIZED_DIMENSIONS

#: Largest finite float4.
FLOAT4_MAX = 3.4028234663852886e38
#: Smallest normal float4: a vector whose components are all below it may be zero once stored.
FLOAT4_MIN_NORMAL = 1.1754943508222875e-38


def vector_problem(values: object, *, max_dimensions: int = NORMALIZED_DIMENSIONS) -> str | None:
    """Why `values` is not a usable embedding, or None when it is."""
    if not isinstance(values, list | tuple):
        return "Expected a list of numbers."
    if not values:
        return "An embedding needs at least one dimension."
    if len(values) > max_dimensions:
        return f"An embedding has at most {max_dimensions} dimensions; this one has {len(values)}."
    for value in values:
        if type(value) is not float and type(value) is not int:  # bool is not a number here
            return "Every component must be a number."
    try:
        total = float(sum(values))  # NaN when a component is NaN (or when +inf meets -inf)
        largest = max(map(abs, values))
    except OverflowError:  # an int too large for a float
        return "A component is out of range for float4 (|x| <= 3.4e38)."
    if math.isnan(total) or math.isinf(total):
        if any(map(math.isinf, values)):
            return "Infinite values are not allowed in an embedding."
        if math.isnan(total):
            return "NaN is not allowed in an embedding."
    if largest > FLOAT4_MAX:
        return "A component is out of range for float4 (|x| <= 3.4e38)."
    if largest < FLOAT4_MIN_NORMAL:
        return "The zero vector has no direction (its norm is 0)."
    return None


def vector_text(values: list[float]) -> str:
    """pgvector's text form of a checked vector (`str` of a list of numbers is it, with spaces)."""
    return str(values)


_ZEROS = ",0" * NORMALIZED_DIMENSIONS


def normalized_padded_text(values: Sequence[float]) -> str:
    """The unit vector of `values`, zero-padded to NORMALIZED_DIMENSIONS, as pgvector text."""
    norm = math.hypot(*values)
    unit = ",".join(repr(value / norm) for value in values)
    return "[" + unit + _ZEROS[: 2 * (NORMALIZED_DIMENSIONS - len(values))] + "]"
