"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from rest_framework.routers import SimpleRouter

from workspaces.api import WorkspacesIncludingPublicViewSet

router = SimpleRouter(trailing_slash=False)
router.register("workspaces", WorkspacesIncludingPublicViewSet, basename="workspace")

urlpatterns = router.urls
