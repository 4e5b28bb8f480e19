"""The HTTP side of idempotent creation (`Idempotency-Key`), for every endpoint that has it (tasks, executions).

The domain side (claiming the key, replaying, who may see a replay) is
`mcpadmin.core.idempotency`; this module reads the header, fingerprints the
body, renders the 201 that is stored, and answers a creation or a replay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from mcpadmin.core.idempotency import Creation, validate_idempotency_key

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern="^[!-~]{1,255}$",
    description="1-255 visible ASCII characters. A retry with the same key and body gets the first 201 again "
    "(header `Idempotent-Replayed: true`); with another body, 422 `idempotency_mismatch`.",
)


def idempotency_key_of(request: Request) -> str | None:
    """The request's `Idempotency-Key`, checked before anything else (400 for a malformed one)."""
    idempotency_key = request.headers.get("Idempotency-Key")
    return validate_idempotency_key(idempotency_key) if idempotency_key is not None else None


def request_fingerprint(data: Any) -> str:
    """SHA-256 of the body's JSON in canonical form (sorted members, no spaces): what "same request" means."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def renderer(serializer_class: type[serializers.ModelSerializer]) -> Callable[[Any], str]:
    """The body of a created object's 201, stored byte for byte for Idempotency-Key replays."""

    def render(obj: Any) -> str:
        return JSONRenderer().render(serializer_class(obj).data).decode()

    return render


def created_response(
    creation: Creation, *, keyed: bool, serializer_class: type[serializers.ModelSerializer], location: str
) -> HttpResponse:
    """201 with the created object; with a key, the stored body (a replay says so in `Idempotent-Replayed`)."""
    if not keyed:
        response: HttpResponse = Response(serializer_class(creation.obj).data, status=status.HTTP_201_CREATED)
    else:
        body = creation.response_body or renderer(serializer_class)(
            serializer_class.Meta.model.objects.get(pk=creation.object_id)
        )
        response = HttpResponse(body, status=creation.response_status or 201, content_type="application/json")
        if creation.replayed:
            response["Idempotent-Replayed"] = "true"
    response["Location"] = location
    return response
