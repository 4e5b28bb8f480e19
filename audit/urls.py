"""API routes of this app (included under /api/v1/ by mcpadmin/urls.py)."""

from rest_framework.routers import SimpleRouter

from audit.api import AuditEventViewSet

router = SimpleRouter(trailing_slash=False)
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = router.urls
