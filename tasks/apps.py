from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Tasks guard the deletion of agents and go first when a tenant goes, through the hooks those apps offer."""
        from agents.hooks import on_agent_delete
        from tasks.services.offboarding import TENANT_TASKS, refuse_deleting_agent_with_open_tasks
        from tenants.hooks import on_tenant_delete

        on_agent_delete(refuse_deleting_agent_with_open_tasks)
        on_tenant_delete(TENANT_TASKS)
