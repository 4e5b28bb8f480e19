from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Hybrid search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from search import checks  # noqa: F401  (registers the system checks)
        from search.offboarding import TENANT_SEARCH_DATA
        from tenants.hooks import on_tenant_delete

        on_tenant_delete(TENANT_SEARCH_DATA)
