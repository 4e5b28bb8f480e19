"""API of agents (`/agents`): validate, call a service or selector, serialize."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents.filters import AgentFilter
from agents.models import Agent, AgentStatus
from agents.selectors import agent_is_online
from agents.services import agent_create, agent_heartbeat, agent_update
from mcpadmin.api.serializers import UUID_PATTERN, JSONObjectField, StrictCharField, StrictSerializer
from mcpadmin.api.views import TenantScopedViewSet
from mcpadmin.core.access import WRITE


def _tags() -> serializers.ListField:
    # Tags are identifiers, taken as given (not trimmed): a tag of only a control character is still a tag.
    return serializers.ListField(
        child=StrictCharField(max_length=100, trim_whitespace=False), required=False, max_length=100
    )


class AgentSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    online = serializers.SerializerMethodField(help_text="Seen within the online window (default 60 s).")

    class Meta:
        model = Agent
        fields = [
            "id", "tenant_id", "name", "description", "capabilities", "teams", "status", "online", "last_seen_at",
            "metadata", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_online(self, agent: Agent) -> bool:
        return agent_is_online(agent)


class AgentWriteSerializer(StrictSerializer):
    name = StrictCharField(max_length=255)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    capabilities = _tags()
    teams = _tags()
    metadata = JSONObjectField(required=False)
    status = serializers.ChoiceField(choices=AgentStatus.choices, required=False)


@extend_schema(tags=["agents"])
class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Agents of the caller's tenant. An agent key sees, edits and beats only for its own agent."""

    service = "agents"
    service_actions = {"heartbeat": WRITE}
    serializer_class = AgentSerializer
    filterset_class = AgentFilter
    queryset = Agent.objects.all()
    lookup_value_regex = UUID_PATTERN

    def get_base_queryset(self) -> Any:
        return Agent.objects.visible_to(self.actor).order_by("name", "id")

    @extend_schema(request=AgentWriteSerializer, responses={201: AgentSerializer})
    def create(self, request: Request) -> Response:
        data = AgentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = agent_create(actor=self.actor, tenant=self.actor.tenant, **data.validated_data)
        return Response(AgentSerializer(agent).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AgentWriteSerializer, responses=AgentSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Changes the given fields. An agent key may edit its own profile but not its status."""
        data = AgentWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        agent = agent_update(actor=self.actor, agent_id=pk, **data.validated_data)
        return Response(AgentSerializer(agent).data)

    @extend_schema(request=None, responses=AgentSerializer)
    @action(detail=True, methods=["post"])
    def heartbeat(self, request: Request, pk: str | None = None) -> Response:
        """Marks the agent as seen now (online for the online window)."""
        return Response(AgentSerializer(agent_heartbeat(actor=self.actor, agent_id=pk)).data)
