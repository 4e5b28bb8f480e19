"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from rest_framework.routers import SimpleRouter

from workflows.api import WorkflowExecutionViewSet, WorkflowViewSet

router = SimpleRouter(trailing_slash=False)
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("workflow-executions", WorkflowExecutionViewSet, basename="workflow-execution")

urlpatterns = router.urls
