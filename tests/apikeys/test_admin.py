"""The operator admin for keys and tenants: calls the services, shows a raw key once, never a secret."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apikeys.models import ApiKey
from apikeys.services import apikey_authenticate, apikey_issue
from tenants.models import Tenant, TenantConfig
from tests import factories
from tests.factories import OPERATOR

pytestmark = pytest.mark.django_db
RAW_KEY_RE = re.compile(r"mcp_[a-z]+_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}")


def test_issuing_shows_the_raw_key_once_with_a_copy_button(admin_client, tenant):
    response = admin_client.post(
        reverse("admin:apikeys_apikey_add"),
        {"tenant": tenant.pk, "name": "ops", "key_type": "service", "allowed_services": ["tasks", "search"]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    raw = RAW_KEY_RE.search(page).group(0)
    assert 'id="copy-key"' in page
    key = apikey_authenticate(raw)
    assert key is not None
    assert key.allowed_services == ["tasks", "search"]
    assert key.parent_key_id is None
    for url in (reverse("admin:apikeys_apikey_change", args=[key.pk]), reverse("admin:apikeys_apikey_changelist")):
        later = admin_client.get(url).content.decode()
        assert raw not in later
        assert key.key_hash not in later


def test_issuing_with_bad_input_shows_a_message_not_a_500(admin_client, tenant):
    response = admin_client.post(
        reverse("admin:apikeys_apikey_add"), {"tenant": tenant.pk, "name": "a", "key_type": "agent"}
    )
    assert response.status_code == 200
    assert "An agent key names the agent it acts as." in response.content.decode()
    assert not ApiKey.objects.filter(name="a").exists()


def test_the_revoke_action_cascades(admin_client, tenant):
    root = factories.issued_key(tenant, "admin")
    child = apikey_issue(tenant=tenant, name="c", key_type="gateway", parent=root.key)
    response = admin_client.post(
        reverse("admin:apikeys_apikey_changelist"), {"action": "revoke_selected", "_selected_action": [root.key.pk]}
    )
    assert response.status_code == 302
    assert apikey_authenticate(root.raw_key) is None
    assert apikey_authenticate(child.raw_key) is None


def test_rotate_and_revoke_pages(admin_client, tenant):
    issued = factories.issued_key(tenant, "service")
    change = admin_client.get(reverse("admin:apikeys_apikey_change", args=[issued.key.pk])).content.decode()
    assert reverse("admin:apikeys_apikey_rotate", args=[issued.key.pk]) in change
    rotated = admin_client.post(reverse("admin:apikeys_apikey_rotate", args=[issued.key.pk]), {"grace_hours": 0})
    new_raw = RAW_KEY_RE.search(rotated.content.decode()).group(0)
    assert apikey_authenticate(new_raw) is not None
    assert apikey_authenticate(issued.raw_key) is None
    new_key = ApiKey.objects.get(key_prefix=new_raw.split("_")[2])
    admin_client.post(reverse("admin:apikeys_apikey_revoke", args=[new_key.pk]))
    assert apikey_authenticate(new_raw) is None


def test_keys_cannot_be_deleted(admin_client, tenant):
    issued = factories.issued_key(tenant, "user")
    response = admin_client.post(reverse("admin:apikeys_apikey_delete", args=[issued.key.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert ApiKey.objects.filter(pk=issued.key.pk).exists()


def test_changelist_filters_by_state(admin_client, tenant):
    from apikeys.services import apikey_revoke

    live, dead = factories.issued_key(tenant, "user").key, factories.issued_key(tenant, "user").key
    apikey_revoke(actor=OPERATOR, key=dead)
    page = admin_client.get(reverse("admin:apikeys_apikey_changelist") + "?state=revoked").content.decode()
    assert dead.key_prefix in page
    assert live.key_prefix not in page


def test_tenant_with_config_inline_is_created_and_validated_through_the_services(admin_client):
    url = reverse("admin:tenants_tenant_add")
    form = {
        "name": "Acme",
        "is_active": "on",
        "config-TOTAL_FORMS": "1",
        "config-INITIAL_FORMS": "0",
        "config-MIN_NUM_FORMS": "1",
        "config-MAX_NUM_FORMS": "1",
        "config-0-rate_limit_config": '{"default_requests_per_minute": -5}',
        "config-0-allowed_origins": "https://acme.example",
        "config-0-features": "{}",
    }
    invalid = admin_client.post(url, form)
    assert invalid.status_code == 200
    assert "rate_limit_config.default_requests_per_minute" in invalid.content.decode()
    assert not Tenant.objects.filter(name="Acme").exists()

    form["config-0-rate_limit_config"] = '{"default_requests_per_minute": 120}'
    form["config-0-set_token_provider"] = "github"
    form["config-0-set_token_value"] = "ghp_AdminEnteredToken9876"
    assert admin_client.post(url, form).status_code == 302
    config = TenantConfig.objects.get(tenant__name="Acme")
    assert config.rate_limit_config == {"default_requests_per_minute": 120}
    assert config.allowed_origins == ["https://acme.example"]
    page = admin_client.get(reverse("admin:tenants_tenant_change", args=[config.tenant_id])).content.decode()
    assert "github" in page
    assert "9876" in page
    assert "ghp_AdminEnteredToken9876" not in page


def test_the_change_form_keeps_the_rotation_links_and_refuses_edited_ones(admin_client, tenant):
    import json

    from apikeys.services import apikey_rotate

    old = factories.issued_key(tenant, "service")
    successor = apikey_rotate(actor=OPERATOR, key=old.key)
    url = reverse("admin:apikeys_apikey_change", args=[old.key.pk])
    kept = {"rotated_to": str(successor.key.pk), "team": "ops"}
    response = admin_client.post(url, {"name": "renamed", "metadata": json.dumps(kept), **_no_inline_rows()})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ApiKey.objects.get(pk=old.key.pk).metadata == kept

    forged = {"rotated_to": "00000000-0000-4000-8000-000000000000"}
    response = admin_client.post(url, {"name": "renamed", "metadata": json.dumps(forged), **_no_inline_rows()})
    assert response.status_code == 200
    assert "written by key rotation only" in response.content.decode()
    assert ApiKey.objects.get(pk=old.key.pk).metadata == kept


def _no_inline_rows() -> dict[str, str]:
    """The management form of the child-keys inline, with no rows."""
    return {
        "child_keys-TOTAL_FORMS": "0",
        "child_keys-INITIAL_FORMS": "0",
        "child_keys-MIN_NUM_FORMS": "0",
        "child_keys-MAX_NUM_FORMS": "1000",
    }
