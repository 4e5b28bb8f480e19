"""API of workflows (`/workflows`) and their executions (`/workflow-executions`): validate, call a service, serialize.

Service name `workflows`: admin, gateway and service keys read and write;
agent and user keys read (docs, key-type matrix). The definition's shape is
published at GET /workflows/schema and checked by `workflows.definition`
on every write.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
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
from mcpadmin.api.serializers import UUID_PATTERN, JSONObjectField, StrictCharField, StrictSerializer
from mcpadmin.api.views import TenantScopedViewSet
from workflows.definition import DEFINITION_SCHEMA, MAX_DEFINITION_BYTES, MAX_DEFINITION_DEPTH
from workflows.engine import STEP_STATUSES
from workflows.filters import ExecutionFilter, WorkflowFilter
from workflows.models import ExecutionStatus, Workflow, WorkflowExecution, WorkflowStatus, WorkflowType
from workflows.selectors import execution_data_readable, execution_steps, readable_task_ids
from workflows.services import (
    execution_cancel,
    execution_start,
    workflow_allowed_targets,
    workflow_create,
    workflow_transition,
    workflow_update,
)

# --- serializers ------------------------------------------------------------------------------------------------


class WorkflowSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    definition = serializers.JSONField(read_only=True, help_text="Shape: GET /api/v1/workflows/schema.")
    allowed_transitions = serializers.SerializerMethodField(help_text="Statuses the workflow may go to next.")

    class Meta:
        model = Workflow
        fields = [
            "id", "tenant_id", "name", "description", "workflow_type", "status", "definition", "version",
            "allowed_transitions", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_allowed_transitions(self, workflow: Workflow) -> list[str]:
        return workflow_allowed_targets(workflow.status)


class WorkflowCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=255)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    workflow_type = serializers.ChoiceField(choices=WorkflowType.choices)
    definition = JSONObjectField(
        max_bytes=MAX_DEFINITION_BYTES,
        max_depth=MAX_DEFINITION_DEPTH,
        help_text="Validated against GET /api/v1/workflows/schema.",
    )


class WorkflowPatchSerializer(StrictSerializer):
    name = StrictCharField(required=False, max_length=255)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    definition = JSONObjectField(
        required=False,
        max_bytes=MAX_DEFINITION_BYTES,
        max_depth=MAX_DEFINITION_DEPTH,
        help_text="A new definition bumps `version`.",
    )


class WorkflowTransitionSerializer(StrictSerializer):
    to_status = serializers.ChoiceField(choices=WorkflowStatus.choices)
    reason = StrictCharField(required=False, allow_blank=True, max_length=10_000)


class ExecutionStartSerializer(StrictSerializer):
    input = JSONObjectField(required=False, help_text="Read by templates and conditions as `$.input`.")


class ExecutionCancelSerializer(StrictSerializer):
    reason = StrictCharField(required=False, allow_blank=True, max_length=10_000)


class StepTaskSerializer(serializers.Serializer):
    slot = serializers.IntegerField(help_text="Position: the item of a map, the agent of a scatter; 0 otherwise.")
    task_id = serializers.UUIDField(allow_null=True)
    status = serializers.CharField(help_text="waiting, running, completed, failed or cancelled.")
    item = serializers.IntegerField(allow_null=True, help_text="Map steps: the item's index.")
    error = serializers.CharField(allow_null=True)


class StepSerializer(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["task", "map", "scatter"])
    status = serializers.ChoiceField(
        choices=STEP_STATUSES,
        help_text="held: ready, but the workflow is not active (it starts on resume).",
    )
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    tasks = StepTaskSerializer(many=True)


class ExecutionSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    workflow_id = serializers.UUIDField(read_only=True)
    workflow_version = serializers.SerializerMethodField()
    workflow_type = serializers.SerializerMethodField()
    iteration = serializers.SerializerMethodField(help_text="Loops: the current (or last) iteration, from 1.")
    input = serializers.JSONField(source="input_data", read_only=True)
    output = serializers.JSONField(
        source="output_data", read_only=True, allow_null=True, help_text="`result` and the outputs of the steps."
    )
    steps = serializers.SerializerMethodField()

    class Meta:
        model = WorkflowExecution
        fields = [
            "id", "tenant_id", "workflow_id", "workflow_version", "workflow_type", "status", "input", "output",
            "error_message", "iteration", "steps", "started_at", "completed_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_workflow_version(self, execution: WorkflowExecution) -> int | None:
        return (execution.state or {}).get("workflow_version")

    def get_workflow_type(self, execution: WorkflowExecution) -> str | None:
        return (execution.state or {}).get("workflow_type")

    def get_iteration(self, execution: WorkflowExecution) -> int:
        return (execution.state or {}).get("iteration", 0)

    def to_representation(self, execution: WorkflowExecution) -> dict[str, Any]:
        """Task data only for callers that may read those tasks (`workflows.selectors.readable_task_ids`);
        without a request (the creator's 201, a cancel: writers, who read every task) everything."""
        readable = self.context.get("readable_task_ids")
        if readable is None and self.context.get("request") is not None:
            readable = readable_task_ids(self.context["request"].user, [execution])
        self._readable = readable
        data = super().to_representation(execution)
        if not execution_data_readable(execution, readable):
            data["output"], data["error_message"] = None, None
        return data

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, execution: WorkflowExecution) -> list[dict[str, Any]]:
        return StepSerializer(execution_steps(execution, readable=getattr(self, "_readable", None)), many=True).data


#: The body of a started execution's 201, stored byte for byte for Idempotency-Key replays.
render_execution = renderer(ExecutionSerializer)


# --- filters ----------------------------------------------------------------------------------------------------


# --- views ------------------------------------------------------------------------------------------------------


@extend_schema(tags=["workflows"])
class WorkflowViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Workflows of the caller's tenant: definitions, their status, and their executions."""

    service = "workflows"
    service_actions = {"transition": policy.WRITE, "definition_schema": policy.READ}
    serializer_class = WorkflowSerializer
    filterset_class = WorkflowFilter
    queryset = Workflow.objects.all()
    lookup_value_regex = UUID_PATTERN

    def get_base_queryset(self) -> Any:
        return Workflow.objects.visible_to(self.actor).order_by("name", "id")

    @extend_schema(request=WorkflowCreateSerializer, responses={201: WorkflowSerializer})
    def create(self, request: Request) -> Response:
        """Creates a `draft` workflow; the definition is validated (400 naming each place, such as
        `definition.steps[2].depends_on[0]`)."""
        data = WorkflowCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workflow = workflow_create(actor=self.actor, tenant=self.actor.tenant, **data.validated_data)
        return Response(WorkflowSerializer(workflow).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WorkflowPatchSerializer, responses=WorkflowSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Name, description, definition (validated; bumps `version`). Running executions keep theirs."""
        self.get_object()
        data = WorkflowPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workflow = workflow_update(actor=self.actor, workflow_id=pk, **data.validated_data)
        return Response(WorkflowSerializer(workflow).data)

    @extend_schema(request=WorkflowTransitionSerializer, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        """draft → active ↔ paused; active → completed | failed; any → archived (cancels running executions)."""
        self.get_object()
        data = WorkflowTransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        workflow = workflow_transition(actor=self.actor, workflow_id=pk, **data.validated_data)
        return Response(WorkflowSerializer(workflow).data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, filters=False)
    @action(detail=False, methods=["get"], url_path="schema", filterset_class=None, pagination_class=None)
    def definition_schema(self, request: Request) -> Response:
        """The JSON Schema (draft 2020-12) of a workflow's `workflow_type` and `definition`."""
        return Response(DEFINITION_SCHEMA)

    @extend_schema(
        methods=["GET"],
        responses=ExecutionSerializer(many=True),
        filters=False,
        parameters=[
            OpenApiParameter("status", str, many=True, enum=ExecutionStatus.values, description="Repeat for several."),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
    )
    @extend_schema(
        methods=["POST"],
        request=ExecutionStartSerializer,
        responses={201: ExecutionSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        filters=False,
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def executions(self, request: Request, pk: str | None = None) -> HttpResponse:
        """List this workflow's executions, or start one (only `active` workflows run)."""
        workflow = self.get_object()
        if request.method == "GET":
            found = ExecutionFilter(request.query_params, queryset=WorkflowExecution.objects.filter(workflow=workflow))
            if not found.is_valid():
                raise ValidationError(found.errors)
            page = self.paginate_queryset(found.qs.order_by("-created_at", "id"))
            return self.get_paginated_response(ExecutionSerializer(page, many=True).data)
        idempotency_key = idempotency_key_of(request)
        data = ExecutionStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        keyed = idempotency_key is not None
        creation = execution_start(
            actor=self.actor,
            workflow_id=workflow.pk,
            input_data=data.validated_data.get("input", {}),
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint({"workflow_id": str(workflow.pk), "body": request.data})
            if keyed
            else "",
            render=render_execution if keyed else None,
        )
        return created_response(
            creation,
            keyed=keyed,
            serializer_class=ExecutionSerializer,
            location=f"/api/v1/workflow-executions/{creation.object_id}",
        )


@extend_schema(tags=["workflows"])
class WorkflowExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Executions of the caller's tenant's workflows, with their per-step progress."""

    service = "workflows"
    service_actions = {"cancel": policy.WRITE}
    serializer_class = ExecutionSerializer
    filterset_class = ExecutionFilter
    queryset = WorkflowExecution.objects.all()
    lookup_value_regex = UUID_PATTERN

    def get_base_queryset(self) -> Any:
        return WorkflowExecution.objects.visible_to(self.actor).order_by("-created_at", "id")

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        """A page of executions asks once which of their tasks the caller may read."""
        if kwargs.get("many") and args:
            executions = list(args[0])
            kwargs["context"] = {
                **self.get_serializer_context(),
                "readable_task_ids": readable_task_ids(self.actor, executions),
            }
            args = (executions, *args[1:])
        return super().get_serializer(*args, **kwargs)

    @extend_schema(request=ExecutionCancelSerializer, responses=ExecutionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancels a running execution and its open tasks (409 when it has finished)."""
        self.get_object()
        data = ExecutionCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        execution = execution_cancel(actor=self.actor, execution_id=pk, **data.validated_data)
        return Response(ExecutionSerializer(execution).data)
