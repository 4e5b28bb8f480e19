"""Who may do what with a search collection: the one place where these rules live.

The caller is an `Actor` (`mcpadmin.core.actor`): an API key, or an operator or command (no tenant), who may
do anything. For keys, an action on a collection needs:

1. the key-type matrix (`apikeys.policy`, service `search`): `KEY_TYPE_ACTION` — reads for every key type,
   writes for all but `user` keys;
2. the collection's tenant, except that a `public` workspace's collection may be read by keys of any tenant
   (which address it by `collection_id`: names are per tenant) — never written to (`FOREIGN_ACTIONS`);
3. when the collection is in a workspace, the caller's standing there (`workspaces.policy`):
   `WORKSPACE_ACTION`. A collection without a workspace is open to every key of its tenant.

Deleting or replacing (ingesting with an existing `external_id`) needs `MANAGE_CONTENT` (moderator) for any
document, or `WRITE_CONTENT` (contributor) for the documents the caller's own agent wrote (`agent_id`):
`delete_scope` and `replace_scope` say which. In a collection without a workspace, only keys with the tenant's
authority touch others' documents; agent keys, their own. An agent key writes as its agent: `agent_id` on a
document it ingests is its own (`DOCUMENT_FIELD_WRITERS`). A collection the caller may not read is
`404`, like a missing one; an action it may read but not do is `403`.

Every import of the workspaces' models and rules in this app is here (and in the models' foreign key).
"""

from __future__ import annotations

from typing import Any

from apikeys import policy as key_types
from mcpadmin.core.actor import Actor
from mcpadmin.core.errors import DomainError, Forbidden, NotFound
from mcpadmin.core.fields import TENANT_AUTHORITY, FieldWriters
from search.models import Collection
from workspaces.models import Workspace
from workspaces.policy import MANAGE_CONTENT, READ, WRITE_CONTENT, WorkspaceAccess, access_for, hidden_from

SEARCH = "search"  # search the collection, read its documents and statistics
INGEST = "ingest"
CREATE = "create"  # create a collection (in a workspace: `workspace_for_new_collection`)
DELETE_ANY = "delete_any"
DELETE_OWN = "delete_own"  # the documents the caller's own agent wrote

#: The key-type matrix's action on service `search` that each action needs.
KEY_TYPE_ACTION = {
    SEARCH: key_types.READ,
    INGEST: key_types.WRITE,
    CREATE: key_types.WRITE,
    DELETE_ANY: key_types.WRITE,
    DELETE_OWN: key_types.WRITE,
}
#: What each action needs in the collection's workspace, when it has one.
WORKSPACE_ACTION = {
    SEARCH: READ,
    INGEST: WRITE_CONTENT,
    CREATE: WRITE_CONTENT,
    DELETE_ANY: MANAGE_CONTENT,
    DELETE_OWN: WRITE_CONTENT,
}
#: What keys of another tenant may do (with a public workspace's collection).
FOREIGN_ACTIONS = frozenset({SEARCH})


def _workspace_access(actor: Actor, collection: Collection) -> WorkspaceAccess | None:
    return access_for(actor, collection.workspace) if collection.workspace_id else None


def allows(actor: Actor, action: str, collection: Collection) -> bool:
    """Whether the caller may do `action` with the collection (the three conditions of the module's docstring)."""
    if actor.is_operator:
        return True
    if not key_types.key_type_allows(actor.key_type or "", "search", KEY_TYPE_ACTION[action]):
        return False
    access = _workspace_access(actor, collection)
    if collection.tenant_id != actor.tenant_id:
        return action in FOREIGN_ACTIONS and access is not None and access.can(WORKSPACE_ACTION[action])
    if action == DELETE_OWN and actor.agent_id is None:
        return False
    if access is None:
        # A collection of the whole tenant has no moderators: only the tenant's authority touches others' content.
        return action != DELETE_ANY or actor.manages_tenant
    return access.can(WORKSPACE_ACTION[action])


def may_read(actor: Actor, collection: Collection) -> bool:
    return allows(actor, SEARCH, collection)


def require_read(actor: Actor, collection: Collection) -> None:
    """A collection the caller may not read is 404, as if it did not exist."""
    if not may_read(actor, collection):
        raise NotFound("No such collection.", {"collection": [collection.name]})


def _refused_by_key_type(actor: Actor, action: str) -> None:
    wanted = KEY_TYPE_ACTION[action]
    if not actor.is_operator and not key_types.key_type_allows(actor.key_type or "", "search", wanted):
        raise Forbidden(
            "service_not_allowed",
            f"A {actor.key_type} key may not {wanted} in the search service.",
            {"service": "search", "action": wanted},
        )


def require_same_tenant(actor: Actor, tenant_id: Any) -> None:
    if not actor.is_operator and actor.tenant_id != tenant_id:
        raise Forbidden("cross_tenant", "A key writes only to its own tenant's collections.")


def require_write_access(actor: Actor, tenant_id: Any) -> None:
    """Any write to a tenant's search content: a key type that may write, of that tenant."""
    _refused_by_key_type(actor, INGEST)
    require_same_tenant(actor, tenant_id)


def require_ingest(actor: Actor, collection: Collection) -> None:
    """Ingesting into an existing collection: 404 when the caller may not read it, 403 when it may not write."""
    require_read(actor, collection)
    require_write_access(actor, collection.tenant_id)
    if not allows(actor, INGEST, collection):
        access = _workspace_access(actor, collection)
        raise Forbidden(
            "workspace_forbidden",
            "Your role in the collection's workspace does not allow writing content.",
            {"action": WRITE_CONTENT, "role": access.role if access else None},
        )


def delete_scope(actor: Actor, collection: Collection) -> str | None:
    """None: the caller may delete any document; else the only `agent_id` whose documents it may delete.

    404 when the caller may not read the collection, 403 when it may delete none of its documents.
    """
    require_read(actor, collection)
    require_write_access(actor, collection.tenant_id)
    if allows(actor, DELETE_ANY, collection):
        return None
    if allows(actor, DELETE_OWN, collection):
        return str(actor.agent_id)
    access = _workspace_access(actor, collection)
    raise Forbidden(
        "workspace_forbidden",
        "Your role in the collection's workspace does not allow deleting content.",
        {"action": MANAGE_CONTENT, "role": access.role if access else None},
    )


def replace_scope(actor: Actor, collection: Collection) -> str | None:
    """None: ingesting may replace any document; else the only `agent_id` whose documents it may replace."""
    if allows(actor, DELETE_ANY, collection):
        return None
    return str(actor.agent_id) if actor.agent_id is not None else ""


#: Who may set each field of a document to something else than its own default (see `mcpadmin.core.fields`):
#: `agent_id` names the author, and moderation rules follow it, so an agent key may only name its own agent.
DOCUMENT_FIELD_WRITERS: FieldWriters = {"agent_id": TENANT_AUTHORITY}


def document_hidden_fields(actor: Actor, collection: Collection) -> tuple[str, ...]:
    """What the caller may neither see nor filter by in this collection's documents (another tenant's public
    workspace: the author agent, `workspaces.policy.HIDDEN_FROM_OTHER_TENANTS`)."""
    return hidden_from(actor, collection.tenant_id, "document")


def workspace_for_new_collection(actor: Actor, tenant_id: Any, workspace_id: Any) -> Workspace:
    """A collection may be put in a workspace of its tenant where the caller may write content."""
    workspace = Workspace.objects.filter(id=workspace_id, tenant_id=tenant_id).first()
    if workspace is not None and actor.is_operator:
        return workspace
    access = access_for(actor, workspace) if workspace is not None else None
    if access is None or not access.visible:
        raise DomainError("invalid", "No such workspace.", {"workspace_id": ["No such workspace."]})
    if not access.can(WORKSPACE_ACTION[CREATE]):
        raise Forbidden("workspace_forbidden", "Your role in that workspace does not allow writing content.",
                        {"action": WRITE_CONTENT, "role": access.role})  # fmt: skip
    return workspace
