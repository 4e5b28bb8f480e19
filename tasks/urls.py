"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tasks.api import TaskViewSet, WorkspaceTaskListView

router = SimpleRouter(trailing_slash=False)
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = [
    *router.urls,
    path("workspaces/<uuid:workspace_id>/tasks", WorkspaceTaskListView.as_view(), name="workspace-tasks"),
]
