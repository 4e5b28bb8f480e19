"""Service-token encryption: bound to tenant and provider, rotatable, never readable back."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings

from tenants import crypto
from tenants.models import TenantConfig
from tenants.services import service_token_reveal, service_token_set

pytestmark = pytest.mark.django_db


def test_a_ciphertext_only_decrypts_for_its_tenant_and_provider():
    sealed = crypto.encrypt("secret-value", tenant_id="t1", provider="github")
    assert crypto.decrypt(sealed, tenant_id="t1", provider="github") == "secret-value"
    for tenant_id, provider in (("t2", "github"), ("t1", "gitlab")):
        with pytest.raises(crypto.TokenDecryptionError):
            crypto.decrypt(sealed, tenant_id=tenant_id, provider=provider)


def test_a_tampered_ciphertext_does_not_decrypt():
    sealed = crypto.encrypt("secret-value", tenant_id="t1", provider="github")
    sealed["ct"] = sealed["ct"][:-4] + ("AAAA" if not sealed["ct"].endswith("AAAA") else "BBBB")
    with pytest.raises(crypto.TokenDecryptionError):
        crypto.decrypt(sealed, tenant_id="t1", provider="github")


def test_key_rotation_old_keys_decrypt_and_the_command_reencrypts(tenant, settings):
    old_key, new_key = crypto.generate_key(), crypto.generate_key()
    settings.SERVICE_TOKEN_KEYS = [old_key]
    service_token_set(tenant=tenant, provider="github", token="token-under-the-old-key")
    old_id = TenantConfig.objects.get(tenant=tenant).service_tokens["github"]["kid"]

    settings.SERVICE_TOKEN_KEYS = [new_key, old_key]
    assert service_token_reveal(tenant=tenant, provider="github") == "token-under-the-old-key"
    call_command("rotate_service_tokens", stdout=__import__("io").StringIO())
    sealed = TenantConfig.objects.get(tenant=tenant).service_tokens["github"]
    assert sealed["kid"] != old_id
    assert sealed["kid"] == crypto.primary_key_id()
    assert sealed["last4"] == "-key"

    with override_settings(SERVICE_TOKEN_KEYS=[new_key]):
        assert service_token_reveal(tenant=tenant, provider="github") == "token-under-the-old-key"
    with override_settings(SERVICE_TOKEN_KEYS=[old_key]), pytest.raises(crypto.TokenDecryptionError):
        service_token_reveal(tenant=tenant, provider="github")
