"""Document filters of searches and deletes, as SQL over the alias `e` of `embeddings`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class DocumentFilters:
    """Every given member must hold (AND). `metadata` is JSON containment (`metadata @> ...`)."""

    agent_id: str | None = None
    task_type: str | None = None
    metadata: dict[str, Any] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    model: str | None = None
    external_id: str | None = None
    ids: tuple[UUID, ...] | None = None

    @classmethod
    def everything(cls) -> DocumentFilters:
        """A filter that says, on purpose, "every document" (a delete refuses filters that restrict nothing)."""
        return cls(created_after=datetime(1970, 1, 1, tzinfo=UTC))

    def is_empty(self) -> bool:
        """Filters nothing: no member given, or only an empty `metadata` object (`@> '{}'` holds for every row)."""
        return all(getattr(self, name) in (None, {}) if name == "metadata" else getattr(self, name) is None
                   for name in self.__dataclass_fields__)  # fmt: skip

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A condition (never empty: `TRUE` when nothing is filtered) and its named parameters."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for column in ("agent_id", "task_type", "model", "external_id"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"e.{column} = %(filter_{column})s")
                params[f"filter_{column}"] = value
        if self.metadata is not None:
            clauses.append("e.metadata @> %(filter_metadata)s::jsonb")
            params["filter_metadata"] = json.dumps(self.metadata)
        if self.created_after is not None:
            clauses.append("e.created_at >= %(filter_created_after)s")
            params["filter_created_after"] = self.created_after
        if self.created_before is not None:
            clauses.append("e.created_at < %(filter_created_before)s")
            params["filter_created_before"] = self.created_before
        if self.ids is not None:
            clauses.append("e.id = ANY(%(filter_ids)s::uuid[])")
            params["filter_ids"] = list(self.ids)
        return (" AND ".join(clauses) or "TRUE"), params
