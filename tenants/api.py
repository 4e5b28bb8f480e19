"""API of the calling tenant's configuration (admin keys) and of workspaces."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from mcpadmin.api.serializers import JSONValueField, StrictSerializer
from mcpadmin.api.views import PlatformAPIView
from mcpadmin.core.access import KeyType
from tenants.config import limits_for
from tenants.selectors import service_tokens_public
from tenants.services import UNSET, service_token_delete, service_token_set, tenant_config_of, tenant_config_update


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
    rate_limit_config = JSONValueField(required=False)
    allowed_origins = JSONValueField(required=False)
    features = JSONValueField(required=False)


class ServiceTokenWriteSerializer(StrictSerializer):
    token = serializers.CharField(trim_whitespace=False, write_only=True)


def config_body(tenant: Any) -> dict[str, Any]:
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
        return Response(TenantConfigSerializer(config_body(self.actor.tenant)).data)

    @extend_schema(request=TenantConfigPatchSerializer, responses=TenantConfigSerializer)
    def patch(self, request: Request) -> Response:
        """Replaces each given member whole; the others stay."""
        data = TenantConfigPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        tenant_config_update(
            tenant=self.actor.tenant,
            rate_limit_config=values.get("rate_limit_config", UNSET),
            allowed_origins=values.get("allowed_origins", UNSET),
            features=values.get("features", UNSET),
        )
        return Response(TenantConfigSerializer(config_body(self.actor.tenant)).data)


@extend_schema(tags=["tenant-config"])
class ServiceTokenView(PlatformAPIView):
    """A tenant's token for an outside provider. Write-only: it is never returned, only its last four characters."""

    service = "tenant-config"

    @extend_schema(request=ServiceTokenWriteSerializer, responses=ServiceTokenSerializer)
    def put(self, request: Request, provider: str) -> Response:
        data = ServiceTokenWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        public = service_token_set(tenant=self.actor.tenant, provider=provider, token=data.validated_data["token"])
        return Response(ServiceTokenSerializer(public).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, provider: str) -> Response:
        service_token_delete(tenant=self.actor.tenant, provider=provider)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Workspaces -------------------------------------------------------------------
