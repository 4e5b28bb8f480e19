"""What the API's strict JSON parser costs over plain `json.loads`, on the bodies that matter.

The anchor is `json.loads` of the same text, measured in the same run. The parser adds reading the stream
up to its limit, refusing NaN/Infinity/1e999, NUL and lone surrogates, and a nesting walk over containers;
the walks over strings and numbers run only when the raw text holds a suspect escape or literal, so the
usual body pays for the container walk alone. Bodies: a full ingest batch (1,000 documents with
384-dimension embeddings and metadata, 4.4 MB), the same with one `\\u0000` (string walk), with one
`1e300` (number walk), and a task creation (~1 KB). No database.

    .venv/bin/python bench/parser_bench.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import sys
import time

from common import BASE_DIR

sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcpadmin.settings")
import django

django.setup()  # no database: the parser alone

from django.test import override_settings  # noqa: E402

from mcpadmin.api.parsers import IngestJSONParser, JSONParser  # noqa: E402
from mcpadmin.core.errors import DomainError  # noqa: E402


def ingest_body(rng: random.Random) -> str:
    documents = [
        {
            "external_id": f"doc-{n}",
            "content": " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "log", "error"]) for _ in range(60)),
            "model": "m",
            "embedding": [round(rng.uniform(-1, 1), 6) for _ in range(384)],
            "metadata": {"source": "bench", "n": n, "tags": ["a", "b"]},
        }
        for n in range(1000)
    ]
    return json.dumps({"documents": documents})


def timed(run, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def parse_with(parser: JSONParser, data: bytes) -> None:
    with contextlib.suppress(DomainError):  # a body with a NUL is refused: that is the measured path
        parser.parse(io.BytesIO(data), "application/json", {})


def main() -> None:
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--repeat", type=int, default=15)
    repeat = arguments.parse_args().repeat
    rng = random.Random(14)
    ingest = ingest_body(rng)
    bodies = {
        "ingest batch": (IngestJSONParser(), ingest),
        "ingest, one \\u0000": (IngestJSONParser(), ingest.replace('"bench"', '"be\\u0000nch"', 1)),
        "ingest, one 1e300": (IngestJSONParser(), ingest.replace('"n": 5,', '"n": 1e300,', 1)),
        "task creation": (JSONParser(), json.dumps({"title": "t", "input_data": {"k": "v" * 800}, "metadata": {}})),
    }
    print(f"{'body':<22} {'bytes':>10} {'json.loads ms':>14} {'parser ms':>10} {'ratio':>6}")
    with override_settings(MCPADMIN_REQUEST_MAX_BYTES=1024 * 1024, MCPADMIN_INGEST_MAX_BYTES=10 * 1024 * 1024):
        for name, (parser, text) in bodies.items():
            data = text.encode()
            anchor = timed(lambda text=text: json.loads(text), repeat)
            measured = timed(lambda parser=parser, data=data: parse_with(parser, data), repeat)
            print(f"{name:<22} {len(data):>10} {anchor:>14.3f} {measured:>10.3f} {measured / anchor:>6.2f}")


if __name__ == "__main__":
    main()
