"""Liveness and readiness for load balancers; needs no key."""

from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from mcpadmin.db import outage


@extend_schema(
    responses=inline_serializer("Health", {"status": serializers.CharField(), "database": serializers.CharField()}),
    tags=["health"],
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health(request: Request) -> Response:
    """Answers 200 when the database answers; 503 with Retry-After otherwise.

    Connecting is also what has a killed embedded server started again (mcpadmin.db.backend): a load balancer
    probing this endpoint brings the database back even when no other request comes.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001  (any database failure means "not ready")
        if isinstance(error, DatabaseError) and outage.is_unavailable(error):
            outage.note_down(error)
        response = Response(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": str(outage.RETRY_AFTER_SECONDS)},
        )
        response._has_been_logged = True  # probed every few seconds: the outage is logged once, by note_down
        return response
    return Response({"status": "ok", "database": "ok"})
