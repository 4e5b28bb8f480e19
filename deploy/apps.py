from django.apps import AppConfig


class DeployConfig(AppConfig):
    """Deployment tools: schema gap analysis and adoption of legacy databases (no models)."""

    name = "deploy"
    verbose_name = "Deployment"
