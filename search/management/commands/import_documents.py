"""`manage.py import_documents FILE --tenant T --collection C [--batch-size N] [--stop-on-error]`.

Bulk import of JSON Lines: one document per line in the API's shape (`POST /collections/{c}/documents`'s
items), validated by the API's own serializer, written in batches by the same service (`documents_ingest`), so
statistics, postings and indexes are exactly as if the documents had come through the API.

Resumable: documents whose `external_id` the collection already holds are skipped, so a rerun after an
interruption (or a crash) continues where the last committed batch ended; a document without `external_id`
is upserted again by content and model, which changes nothing. A duplicate `external_id` later in the file is
therefore skipped too. A bad line (not JSON, not a document, refused by the service) is reported with its line
number and left out; the rest goes on, unless `--stop-on-error`. Exit status 1 when any line was bad.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from django.core.management.base import CommandError, CommandParser

from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError
from mcpadmin.management.base import AuditedCommand
from search.api import DocumentItemSerializer, document_inputs
from search.models import Embedding
from search.selectors import collection_named
from search.services import MAX_BATCH_DOCUMENTS, DocumentInput, documents_ingest
from search.vector_indexes import collection_graphs_sync
from tenants.models import Tenant


def _first_message(errors: Any) -> str:
    """`field: message` of a serializer's or a DomainError's details, flattened."""
    if isinstance(errors, dict):
        return "; ".join(f"{name}: {_first_message(value)}" for name, value in errors.items())
    if isinstance(errors, list):
        return " ".join(_first_message(value) for value in errors)
    return str(errors)


class Progress:
    """On a terminal a bar rewritten in place; otherwise a plain line every `every` seconds."""

    def __init__(self, out: TextIO, total_lines: int, *, tty: bool, every: float = 10.0) -> None:
        self.out, self.total, self.tty, self.every = out, max(total_lines, 1), tty, every
        self.started = self.last = time.monotonic()

    def rate(self, written: int) -> float:
        return written / max(time.monotonic() - self.started, 1e-9)

    def __call__(self, line: int, written: int, skipped: int, bad: int) -> None:
        now = time.monotonic()
        figures = f"{line:,}/{self.total:,} lines, {written:,} written, {skipped:,} skipped, {bad:,} bad, "
        figures += f"{self.rate(written):,.0f} docs/s"
        if self.tty:
            filled = int(30 * min(line, self.total) / self.total)
            self.out.write(f"\r[{'#' * filled}{'-' * (30 - filled)}] {figures}   ")
            self.out.flush()
        elif now - self.last >= self.every:
            self.last = now
            self.out.write(f"{figures}\n")
            self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")


class Command(AuditedCommand):
    help = "Import documents from a JSON Lines file (the API's document shape) into a tenant's collection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="JSON Lines: one document per line")
        parser.add_argument("--tenant", required=True, help="tenant name or id")
        parser.add_argument("--collection", required=True, help="collection name (created on first use)")
        parser.add_argument(
            "--batch-size", type=int, default=500, help=f"documents per batch (<= {MAX_BATCH_DOCUMENTS})"
        )
        parser.add_argument("--stop-on-error", action="store_true", help="stop at the first bad line")
        parser.add_argument("--progress-every", type=float, default=10.0, help="seconds between lines (no terminal)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        if not 1 <= options["batch_size"] <= MAX_BATCH_DOCUMENTS:
            raise CommandError(f"--batch-size must be 1..{MAX_BATCH_DOCUMENTS}.")
        self.tenant = _tenant(options["tenant"])
        self.collection = options["collection"]
        self.stop_on_error = options["stop_on_error"]
        self.actor = Actor.for_command("import_documents")
        self.written = self.created = self.skipped = 0
        self.bad: list[tuple[int, str]] = []
        with path.open("rb") as counting:
            total = sum(1 for _ in counting)
        self.progress = Progress(
            self.stdout, total, tty=self.stdout.isatty(), every=options["progress_every"]
        )  # fmt: skip
        pending: list[tuple[int, DocumentInput]] = []
        line_number = 0
        try:
            with path.open(encoding="utf-8", errors="strict") as lines:
                for line_number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    document = self._parse(line_number, line)
                    if document is not None:
                        pending.append((line_number, document))
                    if len(pending) >= options["batch_size"]:
                        self._write(pending)
                        pending = []
                    self.progress(line_number, self.written, self.skipped, len(self.bad))
            if pending:
                self._write(pending)
        except UnicodeDecodeError as error:
            self._refuse(line_number + 1, f"not UTF-8 ({error.reason})")
        except _Stop:
            pass
        self.progress(line_number, self.written, self.skipped, len(self.bad))
        self.progress.close()
        if self.written:  # then the collection exists
            # A large import gets its collection graph now rather than at the worker's next pass (until then its
            # searches compare every document); built after the load, as bulk loads should.
            collection = collection_named(self.tenant, self.collection)
            for name in collection_graphs_sync(collection_id=collection.id).built:
                self.stdout.write(f"built the collection graph {name}")
        self._report(line_number)

    def _parse(self, line_number: int, line: str) -> DocumentInput | None:
        try:
            item = json.loads(line)
        except ValueError as error:
            return self._refuse(line_number, f"not JSON ({error})")
        if not isinstance(item, dict):
            return self._refuse(line_number, "not a JSON object")
        data = DocumentItemSerializer(data=item)
        if not data.is_valid():
            return self._refuse(line_number, _first_message(data.errors))
        return document_inputs([data.validated_data])[0]

    def _refuse(self, line_number: int, message: str) -> None:
        self.bad.append((line_number, message))
        self.stderr.write(f"line {line_number}: {message}")
        if self.stop_on_error:
            raise _Stop
        return None

    def _write(self, batch: list[tuple[int, DocumentInput]]) -> None:
        """Skips the documents already stored (resume), then writes the rest; a refused document is left out."""
        wanted = [document.external_id for _, document in batch if document.external_id is not None]
        stored = set(
            Embedding.objects.filter(
                tenant=self.tenant, collection=self.collection, external_id__in=wanted
            ).values_list("external_id", flat=True)
        )  # fmt: skip
        todo = [(number, document) for number, document in batch if document.external_id not in stored]
        self.skipped += len(batch) - len(todo)
        while todo:
            try:
                result = documents_ingest(
                    actor=self.actor, tenant=self.tenant, collection=self.collection, documents=[d for _, d in todo]
                )
            except DomainError as error:
                refused = _refused_index(error)
                if refused is None:  # not about one document (no access, a limit): nothing more will work
                    raise CommandError(f"lines {todo[0][0]}..{todo[-1][0]}: {error.message}") from error
                number, _ = todo.pop(refused)
                self._refuse(number, _first_message(error.details["documents"][str(refused)]))
                continue
            self.written += len(result.documents)
            self.created += sum(1 for _, is_new in result.documents if is_new)
            return

    def _report(self, lines: int) -> None:
        rate = self.progress.rate(self.written)
        summary = (
            f"{lines:,} lines: {self.written:,} documents written ({self.created:,} new, "
            f"{self.written - self.created:,} replaced), {self.skipped:,} already stored (skipped), "
            f"{len(self.bad):,} bad lines; {rate:,.0f} documents/s"
        )
        self.stdout.write(summary)
        if self.bad:
            shown = ", ".join(str(number) for number, _ in self.bad[:20])
            more = f" and {len(self.bad) - 20} more" if len(self.bad) > 20 else ""
            stopped = " (stopped at the first: --stop-on-error)" if self.stop_on_error else ""
            raise CommandError(f"{len(self.bad)} bad line(s){stopped}: {shown}{more}")


class _Stop(Exception):
    """--stop-on-error met a bad line."""


def _refused_index(error: DomainError) -> int | None:
    """The index of the document a service error names (`details.documents.<index>`), if any."""
    documents = (error.details or {}).get("documents")
    if isinstance(documents, dict) and len(documents) == 1:
        index = next(iter(documents))
        if index.isdigit():
            return int(index)
    return None


def _tenant(value: str) -> Tenant:
    tenant = Tenant.objects.filter(name=value).first()
    if tenant is None:
        try:
            tenant = Tenant.objects.filter(id=UUID(value)).first()
        except ValueError:
            tenant = None
    if tenant is None:
        raise CommandError(f"No such tenant: {value}")
    return tenant
