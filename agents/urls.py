"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from rest_framework.routers import SimpleRouter

from agents.api import AgentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("agents", AgentViewSet, basename="agent")

urlpatterns = router.urls
