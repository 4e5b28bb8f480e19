"""A synthetic corpus for the search benchmark: Zipfian text with topics, clustered vectors, deterministic.

Nothing is downloaded. Words are made-up syllable strings (so the English
stemmer keeps them apart) ranked by a Zipf law, with real English stop words
at the head of the ranking, as in real text (the analyzer drops them). Every
document belongs to one of `topics` topics: about a third of its words come
from the topic's own vocabulary, the rest from the whole language. Its vector
is the topic's centroid plus noise, so vectors cluster by topic. Queries are
2 to 4 words of one topic (one in five adds a common background word) with a
vector near that topic's centroid.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

STOP_WORDS = (  # noqa: SIM905  (a sentence of words reads better than a column of strings)
    "the of and to a in is that for it as was with be by on not he this are or his from at which but have "
    "an they you were her she there been one all we their has would when if so no more what up out can "
    "who some will into other than then its only about also these two may could after first any our new "
    "very most must"
).split()

_ONSETS = ["", "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "st", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_CODAS = ["", "", "", "n", "r", "l", "m", "x"]


@dataclass(frozen=True)
class Document:
    content: str
    embedding: list[float]
    topic: int
    metadata: dict


@dataclass(frozen=True)
class Query:
    text: str
    embedding: list[float]
    topic: int


def _words(count: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < count:
        syllables = rng.choice((2, 2, 3, 3, 3, 4))
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))
        if len(word) >= 5 and word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Corpus:
    """Deterministic for a given seed: the same documents and queries on every machine."""

    def __init__(
        self, *, seed: int = 20251124, vocabulary: int = 30_000, topics: int = 100, dimensions: int = 384
    ) -> None:
        rng = random.Random(seed)
        self.seed = seed
        # the queries have their own stream: they do not depend on which documents were generated
        self.query_rng, self.query_np_rng = random.Random(seed + 2), np.random.default_rng(seed + 2)
        self.dimensions = dimensions
        self.topics = topics
        self.vocabulary = _words(vocabulary, rng)
        # Zipf over the content words, offset by the stop words' ranks: the commonest content word is in
        # about a fifth of the documents (a word in most documents would be a stop word).
        ranks = np.arange(1, vocabulary + 1, dtype=np.float64) + 10
        self.weights = list(itertools.accumulate((1.0 / ranks**1.07).tolist()))
        stop_ranks = np.arange(1, len(STOP_WORDS) + 1, dtype=np.float64)
        self.stop_weights = list(itertools.accumulate((1.0 / stop_ranks).tolist()))
        # cumulative weights (random.choices bisects them). Each topic: 400 words drawn from the middle of the
        # ranking, with its own Zipf order.
        self.topic_words = [rng.sample(self.vocabulary[50:8000], 400) for _ in range(topics)]
        self.topic_weights = list(itertools.accumulate((1.0 / np.arange(1, 401, dtype=np.float64) ** 0.9).tolist()))
        centroids = np.random.default_rng(seed).standard_normal((topics, dimensions))
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)

    def _vector(self, topic: int, noise: float, np_rng: np.random.Generator) -> list[float]:
        vector = self.centroids[topic] + np_rng.standard_normal(self.dimensions) * (noise / self.dimensions**0.5)
        return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()

    def document(self, index: int) -> Document:
        """Document `index`, the same whatever was generated before (so that writers can generate in parallel)."""
        rng = random.Random(self.seed * 1_000_003 + index)
        topic = rng.randrange(self.topics)
        length = max(20, int(rng.gauss(60, 12)))
        kinds = rng.choices(("stop", "topic", "common"), weights=(0.42, 0.33, 0.25), k=length)
        stops = iter(rng.choices(STOP_WORDS, cum_weights=self.stop_weights, k=length))
        topical = iter(rng.choices(self.topic_words[topic], cum_weights=self.topic_weights, k=length))
        common = iter(rng.choices(self.vocabulary, cum_weights=self.weights, k=length))
        source = {"stop": stops, "topic": topical, "common": common}
        words = [next(source[kind]) for kind in kinds]
        metadata = {"source": f"s{rng.randrange(10)}", "year": 2015 + rng.randrange(10)}
        vector = self._vector(topic, 0.9, np.random.default_rng([self.seed, index]))
        return Document(" ".join(words), vector, topic, metadata)

    def documents(self, start: int, stop: int) -> Iterator[Document]:
        for index in range(start, stop):
            yield self.document(index)

    def query(self) -> Query:
        rng = self.query_rng
        topic = rng.randrange(self.topics)
        words = rng.sample(self.topic_words[topic][:120], rng.choice((2, 2, 3, 3, 4)))
        if rng.random() < 0.2:
            words.append(rng.choices(self.vocabulary[:300], cum_weights=self.weights[:300])[0])
        return Query(" ".join(words), self._vector(topic, 1.2, self.query_np_rng), topic)

    def queries(self, count: int) -> list[Query]:
        return [self.query() for _ in range(count)]
