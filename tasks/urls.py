"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from rest_framework.routers import SimpleRouter

from tasks.api import AgentViewSet, TaskViewSet

router = SimpleRouter(trailing_slash=False)
router.register("agents", AgentViewSet, basename="agent")
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = router.urls
