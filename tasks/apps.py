from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Tasks guard the deletion of agents through the hook agents offer (dependencies point down)."""
        from agents.hooks import on_agent_delete
        from tasks.services.offboarding import refuse_deleting_agent_with_open_tasks

        on_agent_delete(refuse_deleting_agent_with_open_tasks)
