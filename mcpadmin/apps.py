from django.apps import AppConfig


class McpadminConfig(AppConfig):
    name = "mcpadmin"
    verbose_name = "mcpadmin platform"

    def ready(self) -> None:
        from mcpadmin import checks  # noqa: F401  (registers the system checks)
        from mcpadmin.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from mcpadmin.logs import configure_structlog

        configure_structlog()
