"""The audit trail in the operator admin: listed, filtered and searched, never changed or deleted."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_changelist_filters_by_tenant_and_searches_by_key_prefix(admin_client, tenant, other_tenant, admin_api):
    mine, theirs = factories.agent(tenant), factories.agent(other_tenant)
    url = reverse("admin:audit_auditevent_changelist")
    page = admin_client.get(url, {"tenant__id__exact": str(tenant.pk)}).content.decode()
    assert str(mine.pk) in page
    assert str(theirs.pk) not in page

    key = factories.issued_key(tenant, "admin")
    api = factories.client_for(key.raw_key)
    assert api.patch(f"/api/v1/agents/{mine.pk}", {"teams": ["x"]}, format="json").status_code == 200
    found = admin_client.get(url, {"q": key.key.key_prefix}).content.decode()
    assert f"admin key {key.key.key_prefix}" in found
    assert key.raw_key not in found


def test_events_of_a_deleted_tenant_still_show(admin_client):
    gone = factories.service_tenant()
    gone_id = gone.pk
    factories.agent(gone)
    gone.delete()
    response = admin_client.get(reverse("admin:audit_auditevent_changelist"), {"q": ""})
    assert response.status_code == 200
    assert str(gone_id) in response.content.decode()


def test_events_are_read_only(admin_client, tenant):
    event = AuditEvent.objects.get(object_id=str(factories.agent(tenant).pk))
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"object_id": "forged"}).status_code == 403
    assert (
        admin_client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    event.refresh_from_db()
    assert event.object_id != "forged"
