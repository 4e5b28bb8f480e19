"""API of keys: the calling key (`/me`) and the keys a caller manages (`/api-keys`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents.models import Agent
from apikeys import keys, policy
from apikeys.filters import ApiKeyFilter
from apikeys.models import ApiKey
from apikeys.services import (
    DEFAULT_ROTATION_GRACE,
    MAX_ROTATION_GRACE,
    apikey_issue,
    apikey_revoke,
    apikey_rotate,
    key_state,
)
from mcpadmin.api.serializers import JSONObjectField, StrictIntegerField, StrictSerializer
from mcpadmin.api.views import PlatformAPIView, TenantScopedViewSet
from mcpadmin.core.access import KEY_ITSELF, SERVICES, KeyType
from mcpadmin.core.errors import DomainError


class ApiKeySerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    parent_key_id = serializers.UUIDField(read_only=True, allow_null=True)
    agent_id = serializers.UUIDField(read_only=True, allow_null=True)
    display = serializers.SerializerMethodField(help_text="The public part of the key.")
    state = serializers.SerializerMethodField(help_text="active, expired, revoked or inactive")

    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "key_type", "key_prefix", "display", "tenant_id", "parent_key_id", "agent_id",
            "allowed_services", "state", "is_active", "expires_at", "revoked_at", "last_used_at", "metadata",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_display(self, key: ApiKey) -> str:
        return keys.display(key.key_type, key.key_prefix)

    def get_state(self, key: ApiKey) -> str:
        return key_state(key)


class IssuedApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The raw key. Shown in this response only, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyIssueSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    key_type = serializers.ChoiceField(choices=KeyType.choices)
    allowed_services = serializers.ListField(
        child=serializers.ChoiceField(choices=SERVICES), required=False, max_length=len(SERVICES)
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    expires_in_seconds = StrictIntegerField(required=False, min_value=60, max_value=10 * 365 * 86400)
    agent_id = serializers.UUIDField(required=False, allow_null=True)
    metadata = JSONObjectField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("expires_at") and attrs.get("expires_in_seconds"):
            raise serializers.ValidationError(
                {"expires_in_seconds": ["Give expires_at or expires_in_seconds, not both."]}
            )
        return attrs


class RotateSerializer(StrictSerializer):
    grace_period_seconds = StrictIntegerField(
        required=False,
        min_value=0,
        max_value=int(MAX_ROTATION_GRACE.total_seconds()),
        default=int(DEFAULT_ROTATION_GRACE.total_seconds()),
        help_text="How long the old key keeps working (default 24 h; 0 stops it now).",
    )


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many keys this call revoked (the key and its descendants).")
    key = ApiKeySerializer()


class MeSerializer(ApiKeySerializer):
    tenant = serializers.SerializerMethodField()

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "tenant"]
        read_only_fields = fields

    def get_tenant(self, key: ApiKey) -> dict[str, str]:
        return {"id": str(key.tenant_id), "name": key.tenant.name}


class MeView(PlatformAPIView):
    """The calling key. Any valid key may ask."""

    service = KEY_ITSELF

    @extend_schema(responses=MeSerializer, tags=["keys"])
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(self.actor.key).data)


@extend_schema(tags=["keys"])
class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Keys the caller manages: an admin key, all of its tenant's; a gateway key, its descendants.

    New keys are children of the calling key. Keys cannot be deleted, only revoked.
    """

    service = "keys"
    service_actions = {"revoke": policy.WRITE, "rotate": policy.WRITE}
    serializer_class = ApiKeySerializer
    filterset_class = ApiKeyFilter
    queryset = ApiKey.objects.all()

    def get_base_queryset(self) -> Any:
        return ApiKey.objects.visible_to(self.actor).select_related("parent_key", "agent").order_by("-created_at", "id")

    @extend_schema(request=ApiKeyIssueSerializer, responses={201: IssuedApiKeySerializer})
    def create(self, request: Request) -> Response:
        """Issues a child of the calling key. The response holds the raw key: it is never shown again."""
        data = ApiKeyIssueSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        expires_at = values.get("expires_at")
        if values.get("expires_in_seconds"):
            expires_at = timezone.now() + timedelta(seconds=values["expires_in_seconds"])
        agent = None
        if values.get("agent_id"):
            agent = Agent.objects.visible_to(self.actor).filter(id=values["agent_id"]).first()
            if agent is None:
                raise DomainError("invalid", "No such agent.", {"agent_id": ["No such agent."]})
        issued = apikey_issue(
            tenant=self.actor.tenant,
            name=values["name"],
            key_type=values["key_type"],
            parent=self.actor.key,
            allowed_services=values.get("allowed_services"),
            expires_at=expires_at,
            agent=agent,
            metadata=values.get("metadata"),
        )
        body = IssuedApiKeySerializer(issued.key).data | {"key": issued.raw_key}
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses=RevokedSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Revokes the key and all its descendants, at once and for good."""
        key = self.get_object()
        revoked = apikey_revoke(actor=self.actor, key=key)
        return Response({"revoked": revoked, "key": ApiKeySerializer(key).data})

    @extend_schema(request=RotateSerializer, responses={201: IssuedApiKeySerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, pk: str | None = None) -> Response:
        """A new key with the same settings; the old one keeps working for the grace period."""
        key = self.get_object()
        data = RotateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = apikey_rotate(
            actor=self.actor, key=key, grace_period=timedelta(seconds=data.validated_data["grace_period_seconds"])
        )
        response = Response(
            IssuedApiKeySerializer(issued.key).data | {"key": issued.raw_key}, status=status.HTTP_201_CREATED
        )
        response["Cache-Control"] = "no-store"
        return response
