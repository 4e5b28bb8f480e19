"""One probe endpoint per service (GET = read, POST = write), to test the key-type matrix in one place."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from mcpadmin.api.views import PlatformAPIView
from mcpadmin.core.access import SERVICES


def probe(service_name: str) -> type[PlatformAPIView]:
    class Probe(PlatformAPIView):
        service = service_name

        def get(self, request: Request) -> Response:
            return Response({"ok": True})

        def post(self, request: Request) -> Response:
            return Response({"ok": True})

    return Probe


urlpatterns = [path(f"api/v1/probe/{name}", probe(name).as_view()) for name in SERVICES]
