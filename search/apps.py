from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Hybrid search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from search import checks  # noqa: F401  (registers the system checks)
