"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tasks.api import AgentViewSet, TaskViewSet, WorkspaceTaskListView
from tasks.workflow_api import WorkflowExecutionViewSet, WorkflowViewSet

router = SimpleRouter(trailing_slash=False)
router.register("agents", AgentViewSet, basename="agent")
router.register("tasks", TaskViewSet, basename="task")
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("workflow-executions", WorkflowExecutionViewSet, basename="workflow-execution")

urlpatterns = [
    *router.urls,
    path("workspaces/<uuid:workspace_id>/tasks", WorkspaceTaskListView.as_view(), name="workspace-tasks"),
]
