"""API of workspaces (`/workspaces`), their members and transfers: validate, call a service, serialize."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from mcpadmin.api.serializers import JSONObjectField, StrictSerializer
from mcpadmin.api.views import PlatformViewMixin, query_flag
from workspaces.filters import WorkspaceFilter
from workspaces.models import MemberRole, Workspace, WorkspaceMember, WorkspaceVisibility
from workspaces.policy import WorkspaceAccess, access_for, hidden_from, redacted
from workspaces.selectors import membership_roles, workspace_for, workspace_members
from workspaces.services import (
    TEAM_TAG_PATTERN,
    workspace_create,
    workspace_delete,
    workspace_member_add,
    workspace_member_remove,
    workspace_member_set_role,
    workspace_transfer,
    workspace_update,
)


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

    def to_representation(self, workspace: Workspace) -> dict[str, Any]:
        """Another tenant's public workspace: without the owning tenant's ids and settings."""
        data = super().to_representation(workspace)
        return redacted(data, hidden_from(self.context["actor"], workspace.tenant_id, "workspace"))

    def get_my_role(self, workspace: Workspace) -> str | None:
        access = self.context.get("access")
        roles = self.context.get("roles")
        if access is None and roles is not None:
            access = access_for(
                self.context["actor"], workspace, membership_role=roles.get(workspace.pk), membership_known=True
            )
        elif access is None:
            access = access_for(self.context["actor"], workspace)
        return access.role


@extend_schema_field({"type": "string", "pattern": TEAM_TAG_PATTERN, "maxLength": 100})
class TeamTagField(serializers.CharField):
    """A team tag; the service checks its pattern (and names the tag that fails), the schema states it."""


class WorkspaceWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(allow_blank=True, required=False)
    visibility = serializers.ChoiceField(choices=WorkspaceVisibility.choices, required=False)
    team_tags = serializers.ListField(child=TeamTagField(max_length=100), required=False, max_length=50)
    settings = JSONObjectField(required=False)


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
        include_public = query_flag(self.request, "include_public")
        return Workspace.objects.visible_to(self.actor, include_public=include_public).order_by("name", "id")

    def _workspace(self) -> tuple[Workspace, WorkspaceAccess]:
        return workspace_for(self.actor, self.kwargs["pk"])

    @extend_schema(
        parameters=[OpenApiParameter("include_public", bool, description="also other tenants' public workspaces")]
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        roles = membership_roles(self.actor, page)
        data = WorkspaceSerializer(page, many=True, context={"actor": self.actor, "roles": roles}).data
        return self.get_paginated_response(data)

    @extend_schema(request=WorkspaceCreateSerializer, responses={201: WorkspaceSerializer})
    def create(self, request: Request) -> Response:
        data = WorkspaceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = workspace_create(actor=self.actor, tenant=self.actor.tenant, **data.validated_data)
        return Response(
            WorkspaceSerializer(workspace, context={"actor": self.actor}).data, status=status.HTTP_201_CREATED
        )

    def retrieve(self, request: Request, pk: str) -> Response:
        workspace, access = self._workspace()
        return Response(WorkspaceSerializer(workspace, context={"actor": self.actor, "access": access}).data)

    @extend_schema(request=WorkspaceUpdateSerializer, responses=WorkspaceSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = WorkspaceUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        workspace = workspace_update(actor=self.actor, workspace_id=pk, **data.validated_data)
        return Response(WorkspaceSerializer(workspace, context={"actor": self.actor}).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        workspace_delete(actor=self.actor, workspace_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=MemberSerializer(many=True), filters=False)
    @extend_schema(methods=["POST"], request=MemberAddSerializer, responses={201: MemberSerializer})
    @action(detail=True, methods=["get", "post"])
    def members(self, request: Request, pk: str) -> Response:
        """List the members (keys of the workspace's tenant only), or add one."""
        if request.method == "GET":
            page = self.paginate_queryset(workspace_members(self.actor, pk))
            return self.get_paginated_response(MemberSerializer(page, many=True).data)
        data = MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = workspace_member_add(actor=self.actor, workspace_id=pk, **data.validated_data)
        return Response(MemberSerializer(member).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["PATCH"], request=MemberRoleSerializer, responses=MemberSerializer)
    @extend_schema(methods=["DELETE"], responses={204: None})
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<agent_id>[^/]+)")
    def member(self, request: Request, pk: str, agent_id: str) -> Response:
        """Change a member's role, or remove it (a member may always leave, but the last owner)."""
        if request.method == "DELETE":
            workspace_member_remove(actor=self.actor, workspace_id=pk, agent_id=agent_id)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = workspace_member_set_role(
            actor=self.actor, workspace_id=pk, agent_id=agent_id, role=data.validated_data["role"]
        )
        return Response(MemberSerializer(member).data)

    @extend_schema(request=TransferSerializer, responses=MemberSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str) -> Response:
        """Hand ownership to another agent of the tenant; the acting owner steps down to `demote_to`."""
        data = TransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = workspace_transfer(actor=self.actor, workspace_id=pk, **data.validated_data)
        return Response(MemberSerializer(member).data)
