"""Every page of the admin renders for an operator: each registered ModelAdmin's list, add and change pages, on
the theme's base classes; the landing page and the admin's branding."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse
from unfold.admin import BaseInlineMixin
from unfold.admin import ModelAdmin as UnfoldModelAdmin

from tests.sample_data import populate

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def populated(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # embedding_statistics is written on commit
        populate()


def test_every_model_admin_and_inline_uses_the_theme():
    assert len(REGISTERED) >= 20
    for model, model_admin in REGISTERED:
        assert isinstance(model_admin, UnfoldModelAdmin), model._meta.label
        for inline in model_admin.inlines:
            assert issubclass(inline, BaseInlineMixin), inline


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_the_list_add_and_change_pages_render(admin_client, populated, model, model_admin):
    info = (model._meta.app_label, model._meta.model_name)
    response = admin_client.get(reverse("admin:{}_{}_changelist".format(*info)))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1, "sample data has a row of every model"
    request = response.wsgi_request
    if model_admin.has_add_permission(request):
        assert admin_client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200
    obj = model_admin.get_queryset(request).first()
    response = admin_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
    assert response.status_code == 200, f"{model._meta.label} {obj.pk}"


def test_the_admin_is_branded_mcpadmin_and_its_site_link_works(admin_client, client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "<title>" in page
    assert "Django administration" not in page
    assert "Django site admin" not in page
    assert "mcpadmin" in page
    assert 'href="/"' in page, "the 'view site' link leads to the landing page"
    landing = client.get("/")
    assert landing.status_code == 200
    text = landing.content.decode()
    for url in (reverse("admin:index"), reverse("swagger-ui"), reverse("health")):
        assert f'href="{url}"' in text


def test_the_theme_serves_its_static_files_itself(client):
    """No CDN: the theme's stylesheet, scripts and fonts are static files of the project."""
    from django.contrib.staticfiles import finders

    for path in ("unfold/css/styles.css", "unfold/js/app.js", "mcpadmin/operator_time_zone.js"):
        assert finders.find(path), path
    page = client.get(reverse("admin:login")).content.decode()
    assert "https://" not in page.replace("https://unfoldadmin.com", "")


def test_times_read_in_the_operator_zone_and_a_bad_zone_falls_back(rf, settings):
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from mcpadmin.adminkit import human_time, operator_time_zone

    settings.MCPADMIN_OPERATOR_TIME_ZONE = "Europe/Paris"
    request = rf.get("/admin/")
    request.COOKIES["mcpadmin_tz"] = "Not/AZone"
    assert str(operator_time_zone(request)) == "Europe/Paris"
    request.COOKIES["mcpadmin_tz"] = "America/New_York"
    assert str(operator_time_zone(request)) == "America/New_York"
    with timezone.override(operator_time_zone(request)):
        moment = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
        shown = human_time(moment)
        assert "2026-01-15 07:00:00 EST" in shown
        assert " ago)" in shown
        assert "(in 2 hours)" in human_time(timezone.now() + timedelta(hours=2, minutes=1))
        assert "just now" in human_time((timezone.now() - timedelta(seconds=5)).isoformat())
    assert human_time(None) == "-"
