"""`manage.py rebuild_search_stats [--collection NAME] [--tenant NAME_OR_ID] [--verify-only]`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.management.base import CommandError, CommandParser
from django.db.models import Q

from mcpadmin.management.base import AuditedCommand
from mcpadmin.progress import Progress
from search.models import Collection
from search.selectors import collection_documents_count, collection_stats_problems
from search.services import collection_stats_rebuild, collections_adopt_orphans


class Command(AuditedCommand):
    help = (
        "Recompute every derived column of search documents (tsvector, term frequencies, lengths, normalized "
        "embeddings, idf_scores) and every collection statistic from the documents, then verify them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collection", help="only collections of this name")
        parser.add_argument("--tenant", help="only this tenant's collections (name or id)")
        parser.add_argument("--verify-only", action="store_true", help="report differences, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["verify_only"]:
            for adopted in collections_adopt_orphans():
                self.stdout.write(
                    f"created collection {adopted.name!r} of tenant {adopted.tenant_id} for its documents"
                )
        collections = Collection.objects.select_related("tenant").order_by("tenant__name", "name")
        if options["collection"]:
            collections = collections.filter(name=options["collection"])
        if options["tenant"]:
            tenant = options["tenant"]
            by_id = Q(tenant_id=tenant) if _is_uuid(tenant) else Q()
            collections = collections.filter(Q(tenant__name=tenant) | by_id)
        if not collections:
            raise CommandError("No such collection.")
        failed = 0
        for collection in collections:
            label = f"{collection.tenant.name} / {collection.name}"
            if not options["verify_only"]:
                self.stdout.write(f"{label}: rebuilding")
                bar = Progress(self.stdout, collection_documents_count(collection))
                report = collection_stats_rebuild(collection=collection, progress=bar)
                bar.close()
                counters = "yes" if report.counters_fixed else "no"
                self.stdout.write(
                    f"  {report.documents} documents; fixed: derived columns of {report.derived_fixed}, "
                    f"document counts of {report.terms_fixed} terms, counters {counters}, "
                    f"{report.models_fixed} model dimensions; idf_scores refreshed on {report.idf_refreshed}"
                )
            problems = collection_stats_problems(collection)
            if problems:
                failed += 1
                for problem in problems:
                    self.stdout.write(self.style.ERROR(f"  {label}: {problem}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"  {label}: verified, exact"))
        if failed:
            raise CommandError(f"{failed} collection(s) did not verify.")


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
