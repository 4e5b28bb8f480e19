from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Hybrid search"
    default_auto_field = "django.db.models.BigAutoField"
