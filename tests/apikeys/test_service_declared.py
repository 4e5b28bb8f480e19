"""Every API view names its service: one that does not is refused to every key, and the system check says so."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mcpadmin.api.views import PlatformAPIView
from mcpadmin.checks import every_endpoint_declares_its_service
from mcpadmin.urls import urlpatterns as real_urlpatterns
from tests import factories

pytestmark = pytest.mark.django_db


class Undeclared(PlatformAPIView):
    """A view someone forgot to give a service."""

    def get(self, request: Request) -> Response:
        return Response({"secret": "tenant data"})


class PlainDRFView(APIView):
    """A DRF view that is not a platform view: DRF's defaults still require a key and a service."""

    def get(self, request: Request) -> Response:
        return Response({"secret": "tenant data"})


class OptedOut(PlainDRFView):
    """A view that switched the checks off: only health, schema and docs may."""

    authentication_classes = []
    permission_classes = []


urlpatterns = [
    *real_urlpatterns,
    path("api/v1/undeclared", Undeclared.as_view()),
    path("api/v1/plain", PlainDRFView.as_view()),
    path("api/v1/opted-out", OptedOut.as_view()),
]


@override_settings(ROOT_URLCONF=__name__)
def test_a_view_without_a_service_is_refused_even_to_an_admin_key(tenant):
    response = factories.client_for(factories.issued_key(tenant, "admin").raw_key).get("/api/v1/undeclared")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "service_undeclared"
    assert "secret" not in response.content.decode()


@override_settings(ROOT_URLCONF=__name__)
def test_a_plain_drf_view_fails_closed_too(tenant):
    """DEFAULT_PERMISSION_CLASSES: no key is 401, any key 403, whatever the view forgot to say."""
    assert factories.client_for("").get("/api/v1/plain").status_code == 401
    response = factories.client_for(factories.issued_key(tenant, "admin").raw_key).get("/api/v1/plain")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "service_undeclared")


@override_settings(ROOT_URLCONF=__name__)
def test_the_system_check_names_the_views():
    errors = every_endpoint_declares_its_service(None)
    assert sorted((error.id, error.obj.__name__) for error in errors) == [
        ("mcpadmin.E001", "PlainDRFView"),
        ("mcpadmin.E001", "Undeclared"),
        ("mcpadmin.E002", "OptedOut"),
    ]


def test_the_real_urls_pass_the_check_and_me_still_answers_any_key(tenant):
    assert every_endpoint_declares_its_service(None) == []
    assert "mcpadmin.E001" not in {message.id for message in checks.run_checks()}
    user = factories.issued_key(tenant, "user", allowed_services=["search"])
    assert factories.client_for(user.raw_key).get("/api/v1/me").status_code == 200
