"""OpenAPI description of the API-key authentication (loaded by McpadminConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "mcpadmin.api.auth.ApiKeyAuthentication"
    name = ["bearerKey", "headerKey"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "mcp_<key_type>_<id>_<secret><checksum>",
                "description": "An API key in `Authorization: Bearer <key>`.",
            },
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The same key in `X-API-Key`."},
        ]
