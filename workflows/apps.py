from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Workflows react to tasks and agents through the hooks those apps offer (dependencies point down)."""
        from agents.hooks import on_agent_available
        from tasks.hooks import on_status_change
        from workflows.services import agent_available, execution_lock_for_task, execution_on_task_changed

        on_status_change(before=execution_lock_for_task, after=execution_on_task_changed)
        on_agent_available(agent_available)
