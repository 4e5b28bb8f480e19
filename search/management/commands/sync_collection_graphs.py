"""`manage.py sync_collection_graphs [--dry-run]`: what the worker's `sync_collection_graphs` job does, now.

Builds the HNSW graph of every collection model past `GRAPH_MIN_DOCUMENTS` documents that lacks one and drops the
graphs no longer wanted (search/vector_indexes.py), CONCURRENTLY: searches and ingests go on meanwhile. Run it
after `migrate` to search 0007 on a database with large collections, or after a bulk load.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandParser

from mcpadmin.management.base import AuditedCommand
from search.vector_indexes import GRAPH_MIN_DOCUMENTS, collection_graphs_sync


class Command(AuditedCommand):
    help = (
        f"Build the HNSW graph of each collection model past {GRAPH_MIN_DOCUMENTS} documents, drop those no longer "
        "wanted (CONCURRENTLY)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="say what would be built and dropped")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        done = collection_graphs_sync(dry_run=options["dry_run"])
        if done.busy:
            self.stdout.write("another sync is running (the worker's job?): nothing done here; it builds what is due")
            return
        verb = ("would build", "would drop") if options["dry_run"] else ("built", "dropped")
        for name in done.built:
            self.stdout.write(f"{verb[0]} {name}")
        for name in done.dropped:
            self.stdout.write(f"{verb[1]} {name}")
        self.stdout.write(
            f"{len(done.ready)} graph(s) in place, {len(done.built)} {verb[0]}, {len(done.dropped)} {verb[1]} "
            f"in {time.monotonic() - started:.1f} s"
        )
