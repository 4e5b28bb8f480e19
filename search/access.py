"""Who may read and write a collection: the keys of its tenant, and the rules of its workspace when it has one.

A collection without a workspace follows the key-type matrix alone: every key of the tenant that reaches the
`search` service (reads for every key type, writes for all but `user` keys). A collection in a workspace also
follows that workspace (`tenants.workspace_access`):

- search it and read its documents: `READ` in the workspace — so a `public` workspace's collection is searchable
  by keys of any tenant, which address it by `collection_id` (names are per tenant);
- ingest into it: `WRITE_CONTENT` (contributor);
- delete its documents: `MANAGE_CONTENT` (moderator), or `WRITE_CONTENT` for the documents its own agent wrote
  (`agent_id`).

A collection the caller may not read is `404`, like a missing one; a write its role does not allow is `403`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet

from mcpadmin.core.errors import DomainError, Forbidden, NotFound
from search.models import Collection
from workspaces.models import Workspace, WorkspaceVisibility
from workspaces.policy import MANAGE_CONTENT, READ, WRITE_CONTENT, WorkspaceAccess, access_for
from workspaces.selectors import workspaces_visible_to


def _workspace_access(principal: Any, collection: Collection) -> WorkspaceAccess | None:
    return access_for(principal, collection.workspace) if collection.workspace_id else None


def readable_collection(principal: Any, *, name: str | None = None, collection_id: Any = None) -> Collection:
    """The collection the caller may read, by name (its tenant's) or by id (also another tenant's public one)."""
    collections = Collection.objects.select_related("workspace")
    if collection_id is not None:
        try:
            collection = collections.filter(pk=uuid.UUID(str(collection_id))).first()
        except ValueError:
            collection = None
    else:
        collection = collections.filter(tenant_id=principal.tenant_id, name=name).first()
    if collection is None:
        raise NotFound("No such collection.", {"collection": [str(name or collection_id)]})
    access = _workspace_access(principal, collection)
    readable = access.can(READ) if access is not None else collection.tenant_id == principal.tenant_id
    if not readable:
        raise NotFound("No such collection.", {"collection": [str(name or collection_id)]})
    return collection


def require_write(principal: Any, collection: Collection) -> None:
    """Ingesting into an existing collection (the caller may already read it)."""
    access = _workspace_access(principal, collection)
    if access is not None and not access.can(WRITE_CONTENT):
        raise Forbidden(
            "workspace_forbidden",
            "Your role in the collection's workspace does not allow writing content.",
            {"action": WRITE_CONTENT, "role": access.role},
        )


def deletable_scope(principal: Any, collection: Collection) -> str | None:
    """None: the caller may delete any document; else the only `agent_id` whose documents it may delete."""
    access = _workspace_access(principal, collection)
    if access is None or access.can(MANAGE_CONTENT):
        return None
    if access.can(WRITE_CONTENT) and principal.agent_id is not None:
        return str(principal.agent_id)
    raise Forbidden(
        "workspace_forbidden",
        "Your role in the collection's workspace does not allow deleting content.",
        {"action": MANAGE_CONTENT, "role": access.role},
    )


def workspace_for_new_collection(principal: Any, workspace_id: Any) -> Workspace:
    """A collection may be put in a workspace of the caller's tenant where it may write content."""
    workspace = Workspace.objects.filter(id=workspace_id, tenant_id=principal.tenant_id).first()
    access = access_for(principal, workspace) if workspace is not None else None
    if access is None or not access.visible:
        raise DomainError("invalid", "No such workspace.", {"workspace_id": ["No such workspace."]})
    if not access.can(WRITE_CONTENT):
        raise Forbidden("workspace_forbidden", "Your role in that workspace does not allow writing content.",
                        {"action": WRITE_CONTENT, "role": access.role})  # fmt: skip
    return workspace


def collections_visible_to(principal: Any, *, include_public: bool = False) -> QuerySet[Collection]:
    """The caller's tenant's collections it may read; with `include_public`, other tenants' public-workspace ones."""
    visible_workspaces = workspaces_visible_to(principal).values("pk")
    condition = Q(tenant_id=principal.tenant_id) & (Q(workspace__isnull=True) | Q(workspace__in=visible_workspaces))
    if include_public:
        condition |= Q(workspace__visibility=WorkspaceVisibility.PUBLIC)
    return Collection.objects.filter(condition).order_by("name", "id")
