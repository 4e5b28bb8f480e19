from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Agents, tasks and workflows"
    default_auto_field = "django.db.models.BigAutoField"
