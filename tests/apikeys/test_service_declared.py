"""Every API view names its service: one that does not is refused to every key, and the system check says so."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from mcpadmin.api.views import PlatformAPIView
from mcpadmin.checks import every_endpoint_declares_its_service
from mcpadmin.urls import urlpatterns as real_urlpatterns
from tests import factories

pytestmark = pytest.mark.django_db


class Undeclared(PlatformAPIView):
    """A view someone forgot to give a service."""

    def get(self, request: Request) -> Response:
        return Response({"secret": "tenant data"})


urlpatterns = [*real_urlpatterns, path("api/v1/undeclared", Undeclared.as_view())]


@override_settings(ROOT_URLCONF=__name__)
def test_a_view_without_a_service_is_refused_even_to_an_admin_key(tenant):
    response = factories.client_for(factories.issued_key(tenant, "admin").raw_key).get("/api/v1/undeclared")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "service_undeclared"
    assert "secret" not in response.content.decode()


@override_settings(ROOT_URLCONF=__name__)
def test_the_system_check_names_the_view():
    errors = every_endpoint_declares_its_service(None)
    assert [(error.id, error.obj) for error in errors] == [("mcpadmin.E001", Undeclared)]


def test_the_real_urls_pass_the_check_and_me_still_answers_any_key(tenant):
    assert every_endpoint_declares_its_service(None) == []
    assert "mcpadmin.E001" not in {message.id for message in checks.run_checks()}
    user = factories.issued_key(tenant, "user", allowed_services=["search"])
    assert factories.client_for(user.raw_key).get("/api/v1/me").status_code == 200
