"""API of the calling tenant's configuration (admin keys) and of workspaces."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apikeys.models import KeyType
from mcpadmin.api.errors import DomainError, Forbidden
from mcpadmin.api.serializers import StrictSerializer
from mcpadmin.api.views import PlatformAPIView, PlatformViewMixin
from tasks.models import Agent
from tenants.config import limits_for
from tenants.models import MemberRole, Workspace, WorkspaceMember, WorkspaceVisibility
from tenants.selectors import workspace_for, workspaces_visible_to
from tenants.services import (
    UNSET,
    service_token_delete,
    service_token_set,
    service_tokens_public,
    tenant_config_of,
    tenant_config_update,
    workspace_create,
    workspace_delete,
    workspace_member_add,
    workspace_member_remove,
    workspace_member_set_role,
    workspace_transfer,
    workspace_update,
)
from tenants.workspace_access import WorkspaceAccess, access_for


class ServiceTokenSerializer(serializers.Serializer):
    provider = serializers.CharField()
    last4 = serializers.CharField(help_text="Last four characters (empty for tokens shorter than 8).")
    updated_at = serializers.DateTimeField(allow_null=True)


class TenantConfigSerializer(serializers.Serializer):
    tenant = serializers.DictField(read_only=True)
    rate_limit_config = serializers.JSONField()
    effective_limits = serializers.DictField(read_only=True, help_text="Limits per key type after defaults.")
    allowed_origins = serializers.ListField(child=serializers.CharField())
    features = serializers.JSONField()
    service_tokens = ServiceTokenSerializer(many=True, read_only=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class TenantConfigPatchSerializer(StrictSerializer):
    rate_limit_config = serializers.JSONField(required=False)
    allowed_origins = serializers.JSONField(required=False)
    features = serializers.JSONField(required=False)


class ServiceTokenWriteSerializer(StrictSerializer):
    token = serializers.CharField(trim_whitespace=False, write_only=True)


def config_body(tenant: Any) -> dict[str, Any]:
    from apikeys.models import KeyType

    config = tenant_config_of(tenant)
    return {
        "tenant": {"id": str(tenant.id), "name": tenant.name},
        "rate_limit_config": config.rate_limit_config or {},
        "effective_limits": {
            key_type: vars(limits_for(config.rate_limit_config, key_type)) for key_type in KeyType.values
        },
        "allowed_origins": config.allowed_origins or [],
        "features": config.features or {},
        "service_tokens": service_tokens_public(config),
        "updated_at": config.updated_at,
    }


@extend_schema(tags=["tenant-config"])
class TenantConfigView(PlatformAPIView):
    """The caller's tenant configuration: rate limits, CORS origins, feature flags, service tokens (write-only)."""

    service = "tenant-config"

    @extend_schema(responses=TenantConfigSerializer)
    def get(self, request: Request) -> Response:
        return Response(TenantConfigSerializer(config_body(self.principal.tenant)).data)

    @extend_schema(request=TenantConfigPatchSerializer, responses=TenantConfigSerializer)
    def patch(self, request: Request) -> Response:
        """Replaces each given member whole; the others stay."""
        data = TenantConfigPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        tenant_config_update(
            tenant=self.principal.tenant,
            rate_limit_config=values.get("rate_limit_config", UNSET),
            allowed_origins=values.get("allowed_origins", UNSET),
            features=values.get("features", UNSET),
        )
        return Response(TenantConfigSerializer(config_body(self.principal.tenant)).data)


@extend_schema(tags=["tenant-config"])
class ServiceTokenView(PlatformAPIView):
    """A tenant's token for an outside provider. Write-only: it is never returned, only its last four characters."""

    service = "tenant-config"

    @extend_schema(request=ServiceTokenWriteSerializer, responses=ServiceTokenSerializer)
    def put(self, request: Request, provider: str) -> Response:
        data = ServiceTokenWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        public = service_token_set(tenant=self.principal.tenant, provider=provider, token=data.validated_data["token"])
        return Response(ServiceTokenSerializer(public).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, provider: str) -> Response:
        service_token_delete(tenant=self.principal.tenant, provider=provider)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Workspaces -------------------------------------------------------------------


class WorkspaceSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    my_role = serializers.SerializerMethodField(help_text="The caller's role: its agent's, or owner for tenant keys.")

    class Meta:
        model = Workspace
        fields = [
            "id", "tenant_id", "name", "description", "visibility", "team_tags", "settings", "my_role",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_my_role(self, workspace: Workspace) -> str | None:
        access = self.context.get("access")
        if access is None:
            access = access_for(self.context["principal"], workspace)
        return access.role


class WorkspaceWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(allow_blank=True, required=False)
    visibility = serializers.ChoiceField(choices=WorkspaceVisibility.choices, required=False)
    team_tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    settings = serializers.DictField(required=False)


class WorkspaceCreateSerializer(WorkspaceWriteSerializer):
    owner_agent_id = serializers.UUIDField(
        required=False, help_text="The first owner; an agent key's own agent by default (and only that)."
    )


class WorkspaceUpdateSerializer(WorkspaceWriteSerializer):
    name = serializers.CharField(max_length=255, required=False)


class MemberSerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(read_only=True)
    agent_name = serializers.CharField(source="agent.name", read_only=True)

    class Meta:
        model = WorkspaceMember
        fields = ["agent_id", "agent_name", "role", "created_at", "updated_at"]
        read_only_fields = fields


class MemberAddSerializer(StrictSerializer):
    agent_id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=MemberRole.choices, default=MemberRole.VIEWER)


class MemberRoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=MemberRole.choices)


class TransferSerializer(StrictSerializer):
    to_agent_id = serializers.UUIDField()
    demote_to = serializers.ChoiceField(
        choices=MemberRole.choices, allow_null=True, default=MemberRole.ADMIN,
        help_text="The role the acting owner keeps (null: stays owner).",
    )  # fmt: skip


class WorkspaceFilter(django_filters.FilterSet):
    visibility = django_filters.ChoiceFilter(choices=WorkspaceVisibility.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Workspace
        fields = ["visibility", "name"]


@extend_schema(tags=["workspaces"])
class WorkspacesIncludingPublicViewSet(PlatformViewMixin, viewsets.GenericViewSet):
    """Workspaces, their members and their ownership.

    Crosses tenants on purpose, and only for reading: a `public` workspace is readable by keys of
    any tenant (`?include_public=true` lists them). Everything else is the caller's tenant's.
    Workspaces the caller may not see are 404; actions its role does not allow are 403.
    """

    service = "workspaces"
    serializer_class = WorkspaceSerializer
    filterset_class = WorkspaceFilter
    queryset = Workspace.objects.all()
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Workspace.objects.none()
        include_public = self.request.query_params.get("include_public", "").lower() in ("1", "true", "yes")
        return workspaces_visible_to(self.principal, include_public=include_public)

    def _workspace(self) -> tuple[Workspace, WorkspaceAccess]:
        return workspace_for(self.principal, self.kwargs["pk"])

    def _same_tenant(self, workspace: Workspace) -> None:
        if workspace.tenant_id != self.principal.tenant_id:
            raise Forbidden("workspace_forbidden", "Only keys of the workspace's tenant may do this.")

    @extend_schema(
        parameters=[OpenApiParameter("include_public", bool, description="also other tenants' public workspaces")]
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        data = WorkspaceSerializer(page, many=True, context={"principal": self.principal}).data
        return self.get_paginated_response(data)

    @extend_schema(request=WorkspaceCreateSerializer, responses={201: WorkspaceSerializer})
    def create(self, request: Request) -> Response:
        data = WorkspaceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        owner_id = values.pop("owner_agent_id", None)
        principal = self.principal
        if principal.key_type == KeyType.AGENT:
            if owner_id is not None and owner_id != principal.agent_id:
                raise Forbidden("workspace_forbidden", "An agent key creates workspaces it owns itself.")
            owner_id = principal.agent_id
        if owner_id is None:
            raise DomainError("invalid", "Name the first owner.", {"owner_agent_id": ["This field is required."]})
        owner = Agent.objects.filter(id=owner_id, tenant_id=principal.tenant_id).first()
        if owner is None:
            raise DomainError("invalid", "No such agent in this tenant.", {"owner_agent_id": ["No such agent."]})
        workspace = workspace_create(tenant=principal.tenant, owner=owner, **values)
        return Response(
            WorkspaceSerializer(workspace, context={"principal": principal}).data, status=status.HTTP_201_CREATED
        )

    def retrieve(self, request: Request, pk: str) -> Response:
        workspace, access = self._workspace()
        return Response(WorkspaceSerializer(workspace, context={"access": access}).data)

    @extend_schema(request=WorkspaceUpdateSerializer, responses=WorkspaceSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        workspace, access = self._workspace()
        data = WorkspaceUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        workspace = workspace_update(access=access, workspace=workspace, **data.validated_data)
        return Response(WorkspaceSerializer(workspace, context={"access": access}).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        workspace, access = self._workspace()
        workspace_delete(access=access, workspace=workspace)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=MemberSerializer(many=True))
    @extend_schema(methods=["POST"], request=MemberAddSerializer, responses={201: MemberSerializer})
    @action(detail=True, methods=["get", "post"])
    def members(self, request: Request, pk: str) -> Response:
        """List the members (keys of the workspace's tenant only), or add one."""
        workspace, access = self._workspace()
        self._same_tenant(workspace)
        if request.method == "GET":
            members = workspace.members.select_related("agent").order_by("created_at", "agent_id")
            page = self.paginate_queryset(members)
            return self.get_paginated_response(MemberSerializer(page, many=True).data)
        data = MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = workspace_member_add(access=access, workspace=workspace, **data.validated_data)
        return Response(MemberSerializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["PATCH"], request=MemberRoleSerializer, responses=MemberSerializer)
    @extend_schema(methods=["DELETE"], responses={204: None})
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<agent_id>[^/]+)")
    def member(self, request: Request, pk: str, agent_id: str) -> Response:
        """Change a member's role, or remove it (a member may always leave, but the last owner)."""
        workspace, access = self._workspace()
        self._same_tenant(workspace)
        if request.method == "DELETE":
            workspace_member_remove(
                access=access, workspace=workspace, agent_id=agent_id, acting_agent_id=self.principal.agent_id
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = workspace_member_set_role(
            access=access, workspace=workspace, agent_id=agent_id, role=data.validated_data["role"]
        )
        return Response(MemberSerializer(member).data)

    @extend_schema(request=TransferSerializer, responses=MemberSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str) -> Response:
        """Hand ownership to another agent of the tenant; the acting owner steps down to `demote_to`."""
        workspace, access = self._workspace()
        self._same_tenant(workspace)
        data = TransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = workspace_transfer(
            access=access,
            workspace=workspace,
            to_agent_id=data.validated_data["to_agent_id"],
            acting_agent_id=self.principal.agent_id,
            demote_to=data.validated_data["demote_to"],
        )
        return Response(MemberSerializer(member).data)
