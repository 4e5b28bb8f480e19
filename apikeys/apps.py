from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """The rate-limit counters of a tenant's keys go with the tenant (`tenants.hooks`)."""
        from apikeys.offboarding import TENANT_BUCKETS
        from tenants.hooks import on_tenant_delete

        on_tenant_delete(TENANT_BUCKETS)
