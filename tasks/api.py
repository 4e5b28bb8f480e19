"""API of agents (`/agents`) and tasks (`/tasks`): validate, call a service or selector, serialize.

Object rules (who may change which agent or task) live in `tasks.services`;
this module only checks the shape of requests. JSON types are strict: a
string where a number belongs (or the reverse) is a 400 naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apikeys import policy
from mcpadmin.api.idempotency import (
    IDEMPOTENCY_KEY_PARAMETER,
    created_response,
    idempotency_key_of,
    renderer,
    request_fingerprint,
)
from mcpadmin.api.serializers import (
    UUID_PATTERN,
    JSONObjectField,
    JSONValueField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
)
from mcpadmin.api.views import PlatformViewMixin, TenantScopedViewSet
from mcpadmin.core.validation import UNSET
from tasks import state_machine
from tasks.filters import TaskFilter
from tasks.models import DelegationType, Task, TaskPriority, TaskStatus
from tasks.selectors import task_history
from tasks.services import (
    MAX_ESCALATION_TIMEOUT,
    MAX_RETRIES_LIMIT,
    MAX_TITLE_LENGTH,
    task_create,
    task_delegate,
    task_transition,
    task_update,
)
from workspaces.policy import HIDDEN_FROM_OTHER_TENANTS, hidden_from, redacted, refuse_hidden_filters
from workspaces.selectors import workspace_for

# --- strict JSON types ----------------------------------------------------------------------------------------


# --- tasks ----------------------------------------------------------------------------------------------------


class TaskSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    assigned_agent_id = serializers.UUIDField(read_only=True, allow_null=True)
    parent_task_id = serializers.UUIDField(read_only=True, allow_null=True)
    workspace_id = serializers.UUIDField(read_only=True, allow_null=True)
    workflow_execution_id = serializers.UUIDField(read_only=True, allow_null=True)
    created_by_key_id = serializers.UUIDField(read_only=True, allow_null=True)
    output_data = serializers.JSONField(read_only=True, allow_null=True)
    escalation_timeout_seconds = serializers.SerializerMethodField()
    allowed_transitions = serializers.SerializerMethodField(help_text="Statuses the state machine allows next.")

    class Meta:
        model = Task
        fields = [
            "id", "tenant_id", "title", "description", "status", "priority", "assigned_agent_id", "parent_task_id",
            "workspace_id", "workflow_execution_id", "workflow_step", "created_by_key_id", "input_data",
            "output_data", "error_message", "retry_count", "max_retries", "delegation_count", "max_delegations",
            "deadline", "auto_escalate", "escalation_timeout_seconds", "last_escalated_at", "assigned_at",
            "started_at", "completed_at", "status_changed_at", "allowed_transitions", "metadata", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_escalation_timeout_seconds(self, task: Task) -> int | None:
        timeout = task.escalation_timeout
        return None if timeout is None else int(timeout.total_seconds())

    def get_allowed_transitions(self, task: Task) -> list[str]:
        return state_machine.allowed_targets(task.status)


_ESCALATION_SECONDS = {"min_value": 1, "max_value": int(MAX_ESCALATION_TIMEOUT.total_seconds()), "allow_null": True}


class TaskCreateSerializer(StrictSerializer):
    title = StrictCharField(max_length=MAX_TITLE_LENGTH)
    description = StrictCharField(required=False, allow_blank=True, max_length=100_000)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    assigned_agent_id = serializers.UUIDField(required=False, allow_null=True, help_text="Created `assigned` to it.")
    parent_task_id = serializers.UUIDField(required=False, allow_null=True)
    workspace_id = serializers.UUIDField(required=False, allow_null=True)
    input_data = JSONObjectField(required=False)
    metadata = JSONObjectField(required=False)
    max_retries = StrictIntegerField(required=False, min_value=0, max_value=MAX_RETRIES_LIMIT)
    max_delegations = StrictIntegerField(required=False, min_value=0, max_value=1000, allow_null=True)
    deadline = serializers.DateTimeField(required=False, allow_null=True)
    auto_escalate = StrictBooleanField(required=False)
    escalation_timeout_seconds = StrictIntegerField(required=False, **_ESCALATION_SECONDS)


class TaskPatchSerializer(StrictSerializer):
    title = StrictCharField(required=False, max_length=MAX_TITLE_LENGTH)
    description = StrictCharField(required=False, allow_blank=True, max_length=100_000)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    deadline = serializers.DateTimeField(required=False, allow_null=True)
    auto_escalate = StrictBooleanField(required=False)
    escalation_timeout_seconds = StrictIntegerField(required=False, **_ESCALATION_SECONDS)


def _with_timeout(values: dict[str, Any]) -> dict[str, Any]:
    """`escalation_timeout_seconds` of the API is the service's `escalation_timeout`."""
    values = dict(values)
    if "escalation_timeout_seconds" in values:
        seconds = values.pop("escalation_timeout_seconds")
        values["escalation_timeout"] = None if seconds is None else timedelta(seconds=seconds)
    return values


class TransitionRequestSerializer(StrictSerializer):
    to_status = serializers.ChoiceField(choices=TaskStatus.choices)
    reason = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    output_data = JSONValueField(required=False, help_text="With to_status completed.")
    error_message = StrictCharField(required=False, max_length=100_000, help_text="With to_status failed.")
    agent_id = serializers.UUIDField(required=False, help_text="With pending → assigned: the agent to assign.")


class TransitionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    task_id = serializers.UUIDField()
    from_status = serializers.CharField(allow_null=True)
    to_status = serializers.CharField()
    transitioned_by = serializers.UUIDField(source="transitioned_by_id", allow_null=True)
    reason = serializers.CharField(allow_null=True)
    metadata = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)


class DelegateRequestSerializer(StrictSerializer):
    to_agent_id = serializers.UUIDField()
    delegation_type = serializers.ChoiceField(choices=DelegationType.choices)
    reason = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    metadata = JSONObjectField(required=False)


class DelegationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    task_id = serializers.UUIDField()
    from_agent_id = serializers.UUIDField(allow_null=True)
    to_agent_id = serializers.UUIDField()
    delegation_type = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    metadata = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)


TransitionResultSerializer = inline_serializer(
    "TaskTransitionResult", {"task": TaskSerializer(), "transition": TransitionSerializer()}
)
DelegationResultSerializer = inline_serializer(
    "TaskDelegationResult",
    {
        "task": TaskSerializer(),
        "delegation": DelegationSerializer(),
        "transition": TransitionSerializer(allow_null=True, help_text="The status change of a handoff."),
    },
)


class HistoryEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["transition", "delegation"])
    id = serializers.UUIDField()
    created_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    metadata = serializers.JSONField(allow_null=True)
    from_status = serializers.CharField(required=False, allow_null=True, help_text="Transitions.")
    to_status = serializers.CharField(required=False, help_text="Transitions.")
    agent_id = serializers.UUIDField(required=False, allow_null=True, help_text="Transitions: the acting agent.")
    from_agent_id = serializers.UUIDField(required=False, allow_null=True, help_text="Delegations.")
    to_agent_id = serializers.UUIDField(required=False, help_text="Delegations.")
    delegation_type = serializers.CharField(required=False, allow_null=True, help_text="Delegations.")


#: The body of a created task's 201, stored byte for byte for Idempotency-Key replays.
render_task = renderer(TaskSerializer)


@extend_schema(tags=["tasks"])
class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Tasks of the caller's tenant; an agent key sees the tasks assigned or delegated to its agent."""

    service = "tasks"
    service_actions = {"transition": policy.WRITE, "delegate": policy.WRITE, "history": policy.READ}
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    queryset = Task.objects.all()
    lookup_value_regex = UUID_PATTERN

    def get_base_queryset(self) -> Any:
        return Task.objects.visible_to(self.actor).order_by("-created_at", "id")

    @extend_schema(
        request=TaskCreateSerializer, responses={201: TaskSerializer}, parameters=[IDEMPOTENCY_KEY_PARAMETER]
    )
    def create(self, request: Request) -> HttpResponse:
        """Creates a task: `pending`, or `assigned` when `assigned_agent_id` is given."""
        idempotency_key = idempotency_key_of(request)
        data = TaskCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        creation = task_create(
            actor=self.actor,
            tenant=self.actor.tenant,
            **_with_timeout(data.validated_data),
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint(request.data) if idempotency_key is not None else "",
            render=render_task if idempotency_key is not None else None,
        )
        return created_response(
            creation,
            keyed=idempotency_key is not None,
            serializer_class=TaskSerializer,
            location=f"/api/v1/tasks/{creation.object_id}",
        )

    @extend_schema(request=TaskPatchSerializer, responses=TaskSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Title, description, priority, deadline and escalation settings, while the task is not final."""
        data = TaskPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = task_update(actor=self.actor, task_id=pk, **_with_timeout(data.validated_data))
        return Response(TaskSerializer(task).data)

    @extend_schema(request=TransitionRequestSerializer, responses=TransitionResultSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        """Moves the task along the state machine; an illegal move is 409 with the allowed targets."""
        data = TransitionRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = task_transition(
            actor=self.actor,
            task_id=pk,
            to_status=values["to_status"],
            reason=values.get("reason", ""),
            output_data=values.get("output_data", UNSET),
            error_message=values.get("error_message"),
            agent_id=values.get("agent_id"),
        )
        return Response(
            {"task": TaskSerializer(result.task).data, "transition": TransitionSerializer(result.transition).data}
        )

    @extend_schema(request=DelegateRequestSerializer, responses=DelegationResultSerializer)
    @action(detail=True, methods=["post"])
    def delegate(self, request: Request, pk: str | None = None) -> Response:
        """Hands the task off, or shares it for collaboration, supervision or consultation (counts against the cap)."""
        data = DelegateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = task_delegate(actor=self.actor, task_id=pk, **data.validated_data)
        return Response(
            {
                "task": TaskSerializer(result.task).data,
                "delegation": DelegationSerializer(result.delegation).data,
                "transition": TransitionSerializer(result.transition).data if result.transition else None,
            }
        )

    @extend_schema(responses=HistoryEventSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        """Transitions and delegations in time order. Transitions with from_status = to_status are escalations."""
        task = self.get_object()
        return Response(HistoryEventSerializer(task_history(task.pk), many=True).data)


# --- tasks of a workspace -------------------------------------------------------------------------------------


class ForeignTaskSerializer(TaskSerializer):
    """A task of a public workspace shown to a key of another tenant: the owning tenant's ids stay within it
    (`workspaces.policy.HIDDEN_FROM_OTHER_TENANTS`)."""

    def to_representation(self, task: Task) -> dict[str, Any]:
        return redacted(super().to_representation(task), HIDDEN_FROM_OTHER_TENANTS["task"])


@extend_schema(tags=["tasks"])
class WorkspaceTaskListView(PlatformViewMixin, generics.ListAPIView):
    """The tasks of one workspace, for every caller that may read the workspace (docs, "Workspaces").

    Crosses tenants on purpose, for reading only: a `public` workspace's tasks are listed to keys of any
    tenant, without the owning tenant's agent, key and link ids. A workspace the caller may not read is 404.
    """

    service = "tasks"
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    queryset = Task.objects.all()

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Task.objects.none()
        workspace, _ = workspace_for(self.actor, self.kwargs["workspace_id"])
        hidden = hidden_from(self.actor, workspace.tenant_id, "task")
        refuse_hidden_filters(self.request.query_params, hidden)
        self.foreign = bool(hidden)
        return Task.objects.filter(workspace=workspace).order_by("-created_at", "id")

    def get_serializer_class(self) -> Any:
        return ForeignTaskSerializer if getattr(self, "foreign", False) else TaskSerializer
